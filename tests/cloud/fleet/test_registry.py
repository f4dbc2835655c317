"""The registry services: sites, tags, cameras, camera groups, and filtering the fleet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.errors import InvalidInput, NotFound
from cloud.fleet import registry
from cloud.fleet.models import Camera, CameraGroup, Device, DeviceStatus, Site
from cloud.fleet.registry import DeviceFilter
from cloud.fleet.services import provision_device, record_device_status
from cloud.monitoring.services import record_heartbeat
from tests.cloud.fleet.heartbeats import heartbeat

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def test_a_site_is_added_then_renamed() -> None:
    assert registry.save_site("hq", name="Head office") is True
    assert registry.save_site("hq", name="HQ") is False
    assert Site.objects.get(pk="hq").name == "HQ"


@pytest.mark.parametrize("site_id", ["", "has space", "a/b", "+", "x" * 65])
def test_a_site_id_follows_the_name_grammar(site_id: str) -> None:
    with pytest.raises(InvalidInput, match="site"):
        registry.save_site(site_id)
    assert not Site.objects.exclude(pk="default").exists()


def test_provisioning_puts_a_device_at_its_site_or_the_default_one() -> None:
    assert provision_device("a", hardware_profile="jetson-xavier", site="lab", tags=["beta"])
    assert provision_device("b", hardware_profile="x86-cpu")
    assert dict(Device.objects.values_list("id", "site_id")) == {"a": "lab", "b": "default"}
    assert list(Device.objects.get(pk="a").tags.values_list("id", flat=True)) == ["beta"]


def test_provisioning_refuses_a_bad_site_or_tag_and_keeps_nothing() -> None:
    with pytest.raises(InvalidInput):
        provision_device("a", hardware_profile="x86-cpu", site="no site")
    with pytest.raises(InvalidInput):
        provision_device("a", hardware_profile="x86-cpu", tags=["no/tag"])
    assert not Device.objects.exists()


def test_tags_are_added_to_and_removed_from_devices() -> None:
    for device_id in ("a", "b"):
        provision_device(device_id, hardware_profile="x86-cpu")
    assert registry.tag_devices(["a", "b"], ["lobby", "beta"]) == 2
    registry.tag_devices(["b"], ["beta"], remove=True)
    assert sorted(Device.objects.filter(tags__id="beta").values_list("id", flat=True)) == ["a"]
    with pytest.raises(NotFound, match="ghost"):
        registry.tag_devices(["a", "ghost"], ["other"])
    assert not Device.objects.filter(tags__id="other").exists()


def test_editing_a_device_checks_what_it_changes() -> None:
    provision_device("a", hardware_profile="x86-cpu")
    registry.edit_device("a", name="Gate A", hardware_profile="jetson-orin")
    assert Device.objects.filter(pk="a", name="Gate A", hardware_profile="jetson-orin").exists()
    with pytest.raises(InvalidInput, match="hardware_profile"):
        registry.edit_device("a", hardware_profile="raspberry-pi")
    with pytest.raises(NotFound, match="not provisioned"):
        registry.edit_device("ghost", name="x")


def test_a_group_holds_cameras_of_its_own_site_only() -> None:
    provision_device("a", hardware_profile="x86-cpu", site="hq")
    provision_device("b", hardware_profile="x86-cpu", site="lab")
    for device_id in ("a", "b"):
        registry.add_camera(device_id, "door")
    assert registry.save_group("hq", "entrances") is True
    assert registry.save_group("hq", "entrances") is False
    assert registry.assign_cameras("hq", "entrances", [("a", "door")]) == 1
    with pytest.raises(InvalidInput, match="not at site 'hq': b/door"):
        registry.assign_cameras("hq", "entrances", [("b", "door")])
    with pytest.raises(NotFound, match="a/yard"):
        registry.assign_cameras("hq", "entrances", [("a", "yard")])
    with pytest.raises(NotFound, match="no camera group"):
        registry.assign_cameras("lab", "entrances", [("b", "door")])
    group = CameraGroup.objects.get(site_id="hq", name="entrances")
    assert list(group.cameras.all()) == [Camera.objects.get(device_id="a", edge_id="door")]
    registry.assign_cameras("hq", "entrances", [("a", "door")], remove=True)
    assert not group.cameras.exists()


def test_a_group_needs_an_existing_site() -> None:
    with pytest.raises(NotFound, match="add it first"):
        registry.save_group("nowhere", "entrances")


def listed(**where: str) -> list[str]:
    return [device.id for device in registry.find_devices(DeviceFilter(**where), now=NOW)]


@pytest.fixture
def fleet() -> None:
    """Four devices: online and fresh, online without heartbeats, online with a backlog,
    offline; at two sites, two hardware profiles, two agent versions."""
    provision_device("fresh", hardware_profile="jetson-orin", site="hq", tags=["beta"])
    provision_device("silent", hardware_profile="x86-cpu", site="hq")
    provision_device("behind", hardware_profile="x86-cpu", site="lab", tags=["beta"])
    provision_device("gone", hardware_profile="x86-cpu", site="lab")
    for n, device_id in enumerate(("fresh", "silent", "behind"), start=1):
        record_device_status(
            device_id,
            status=DeviceStatus.ONLINE,
            seq=n,
            ts=NOW,
            agent_version="1.1" if device_id == "fresh" else "1.0",
        )
    record_heartbeat("fresh", heartbeat(1, NOW), received_at=NOW - timedelta(seconds=5))
    record_heartbeat(
        "behind", heartbeat(1, NOW, outbox_rows=5000), received_at=NOW - timedelta(seconds=5)
    )
    registry.add_camera("fresh", "door")
    registry.add_camera("fresh", "hall")
    registry.save_group("hq", "entrances")
    registry.assign_cameras("hq", "entrances", [("fresh", "door"), ("fresh", "hall")])


@pytest.mark.usefixtures("fleet")
def test_the_fleet_is_filtered_by_each_field() -> None:
    assert listed() == ["fresh", "silent", "behind", "gone"]
    assert listed(site="lab") == ["behind", "gone"]
    assert listed(hardware="jetson-orin") == ["fresh"]
    assert listed(tag="beta") == ["fresh", "behind"]
    # Once, though two of its cameras are in the group.
    assert listed(group="entrances") == ["fresh"]
    assert listed(agent_version="1.0") == ["silent", "behind"]
    assert listed(health="online") == ["fresh"]
    assert listed(health="lagging") == ["silent", "behind"]
    assert listed(health="offline") == ["gone"]
    assert listed(site="lab", tag="beta", health="lagging") == ["behind"]


@pytest.mark.usefixtures("fleet")
def test_health_of_a_device_agrees_with_the_filter() -> None:
    for device in registry.find_devices(DeviceFilter(), now=NOW):
        health = registry.health_of(device, getattr(device, "health", None), now=NOW)
        assert device.id in listed(health=health)
    stale = NOW + registry.LAGGING_AFTER + timedelta(seconds=1)
    assert [d.id for d in registry.find_devices(DeviceFilter(health="online"), now=stale)] == []


@pytest.mark.parametrize(("field", "value"), [("hardware", "pi"), ("health", "sleepy")])
def test_a_filter_refuses_unknown_choices(field: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        DeviceFilter(**{field: value})
