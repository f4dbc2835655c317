from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import Device, DeviceEvent, DeviceHealth, DeviceStatus
from cloud.fleet.services import (
    LaneCounts,
    NewEvent,
    provision_device,
    record_device_status,
    record_event,
)
from cloud.monitoring.services import record_heartbeat
from tests.cloud.fleet.heartbeats import heartbeat, lane

T0 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def status_of(device: Device) -> tuple[str, int | None]:
    device.refresh_from_db()
    return device.status, device.status_seq


def test_it_applies_a_birth_message(provisioned_device: Device) -> None:
    applied = record_device_status(
        provisioned_device.id, status=DeviceStatus.ONLINE, seq=7, ts=T0, agent_version="0.3.1"
    )
    assert applied is True
    provisioned_device.refresh_from_db()
    assert (provisioned_device.status, provisioned_device.status_seq) == ("online", 7)
    assert provisioned_device.last_seen == T0
    assert provisioned_device.agent_version == "0.3.1"


def test_it_ignores_a_status_from_an_older_session(provisioned_device: Device) -> None:
    record_device_status(provisioned_device.id, status=DeviceStatus.ONLINE, seq=8, ts=T0)
    # The last will of session 7, delivered late: the device is still online in session 8.
    applied = record_device_status(
        provisioned_device.id, status=DeviceStatus.OFFLINE, seq=7, ts=T0 - timedelta(hours=1)
    )
    assert applied is False
    assert status_of(provisioned_device) == ("online", 8)


def test_it_applies_the_last_will_of_the_current_session(provisioned_device: Device) -> None:
    record_device_status(provisioned_device.id, status=DeviceStatus.ONLINE, seq=8, ts=T0)
    assert record_device_status(provisioned_device.id, status=DeviceStatus.OFFLINE, seq=8, ts=T0)
    assert status_of(provisioned_device) == ("offline", 8)


def test_it_ignores_a_replayed_birth_after_the_session_ended(provisioned_device: Device) -> None:
    record_device_status(provisioned_device.id, status=DeviceStatus.ONLINE, seq=8, ts=T0)
    record_device_status(provisioned_device.id, status=DeviceStatus.OFFLINE, seq=8, ts=T0)
    assert not record_device_status(provisioned_device.id, status=DeviceStatus.ONLINE, seq=8, ts=T0)
    assert status_of(provisioned_device) == ("offline", 8)


def test_it_accepts_session_zero_of_a_new_device(provisioned_device: Device) -> None:
    assert record_device_status(provisioned_device.id, status=DeviceStatus.ONLINE, seq=0, ts=T0)
    assert status_of(provisioned_device) == ("online", 0)


@pytest.mark.django_db
def test_it_refuses_status_from_an_unprovisioned_device() -> None:
    with pytest.raises(NotFound, match="ghost"):
        record_device_status("ghost", status=DeviceStatus.ONLINE, seq=1, ts=T0)
    assert not Device.objects.filter(pk="ghost").exists()


def test_it_rejects_a_naive_timestamp(provisioned_device: Device) -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        record_device_status(
            provisioned_device.id, status=DeviceStatus.ONLINE, seq=1, ts=datetime(2026, 11, 21)
        )


def event(seq: int, **changes: object) -> NewEvent:
    base = NewEvent(
        seq=seq,
        kind="camera.reconnected",
        ts=T0,
        severity="EVENT_SEVERITY_INFO",
        camera_id="lobby",
        message="camera lobby reconnected",
        attributes={"attempt": "3"},
    )
    return dataclasses.replace(base, **changes)


def test_it_stores_a_redelivered_event_once(provisioned_device: Device) -> None:
    first = record_event(provisioned_device.id, event(41))
    again = record_event(provisioned_device.id, event(41, message="another payload"))
    assert (first, again) == (True, False)
    stored = DeviceEvent.objects.get()
    assert (stored.seq, stored.kind, stored.ts) == (41, "camera.reconnected", T0)
    assert stored.payload == {
        "severity": "EVENT_SEVERITY_INFO",
        "camera_id": "lobby",
        "message": "camera lobby reconnected",
        "attributes": {"attempt": "3"},
    }


def test_it_keeps_events_with_different_seqs_apart(provisioned_device: Device) -> None:
    for seq in (1, 2):
        record_event(provisioned_device.id, event(seq))
    assert DeviceEvent.objects.count() == 2


@pytest.mark.django_db
def test_it_refuses_events_from_an_unprovisioned_device() -> None:
    with pytest.raises(NotFound):
        record_event("ghost", event(1))


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"seq": 0}, "seq"),
        ({"seq": 2**63}, "seq"),
        ({"ts": datetime(2026, 11, 21)}, "time zone"),
        ({"ts": datetime(1969, 12, 31, tzinfo=UTC)}, "ts"),
        ({"ts": datetime(2200, 1, 1, tzinfo=UTC)}, "ts"),
        ({"kind": ""}, "kind"),
        ({"kind": "k" * 65}, "kind"),
        ({"kind": "camera\x00"}, "kind: must not contain NUL"),
        ({"message": "m" * 4097}, "message"),
        ({"message": "lost\x00"}, "message: must not contain NUL"),
        ({"camera_id": "c\x00"}, "camera_id"),
        ({"attributes": {f"k{i}": "v" for i in range(33)}}, "attributes"),
        ({"attributes": {"k" * 65: "v"}}, "attributes key"),
        ({"attributes": {"a\x00": "v"}}, "attributes key"),
        ({"attributes": {"a": "v" * 1025}}, "attributes"),
        ({"attributes": {"a": "\x00"}}, "attributes"),
    ],
)
def test_it_refuses_events_the_store_cannot_hold(
    provisioned_device: Device, changes: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        record_event(provisioned_device.id, event(**{"seq": 5, **changes}))
    assert not DeviceEvent.objects.exists()


@pytest.mark.parametrize(
    ("seq", "ts", "agent_version", "problem"),
    [
        (2**63, T0, "", "session_seq"),
        (-1, T0, "", "session_seq"),
        (1, datetime(1969, 12, 31, tzinfo=UTC), "", "ts"),
        (1, T0, "0.3.1\x00", "agent_version: must not contain NUL"),
        (1, T0, "9" * 65, "agent_version"),
    ],
)
def test_it_refuses_a_status_the_store_cannot_hold(
    provisioned_device: Device, seq: int, ts: datetime, agent_version: str, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        record_device_status(
            provisioned_device.id,
            status=DeviceStatus.ONLINE,
            seq=seq,
            ts=ts,
            agent_version=agent_version,
        )
    assert status_of(provisioned_device) == ("offline", None)


@pytest.mark.django_db
def test_provisioning_creates_a_device_once() -> None:
    assert provision_device("edge-7", hardware_profile="x86-cpu", site="lab") is True
    assert provision_device("edge-7", hardware_profile="jetson-orin") is False
    device = Device.objects.get(pk="edge-7")
    assert (device.site_id, device.hardware_profile) == ("lab", "x86-cpu")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("device_id", "profile"), [("bad/id", "x86-cpu"), ("edge-8", "raspberry-pi")]
)
def test_provisioning_refuses_what_the_fleet_cannot_hold(device_id: str, profile: str) -> None:
    with pytest.raises(InvalidInput, match="cannot provision"):
        provision_device(device_id, hardware_profile=profile)
    assert not Device.objects.filter(pk=device_id).exists()


@pytest.mark.django_db
def test_it_refuses_heartbeats_from_an_unprovisioned_device() -> None:
    with pytest.raises(NotFound):
        record_heartbeat("ghost", heartbeat(1, T0), received_at=T0)
    assert not DeviceHealth.objects.exists()


@pytest.mark.parametrize(
    ("lanes", "problem"),
    [
        (tuple(lane(f"lane{i}") for i in range(9)), "at most 8"),
        ((lane("crop", error="e" * 4097),), "lanes.error"),
    ],
)
def test_it_refuses_heartbeats_the_store_cannot_hold(
    provisioned_device: Device, lanes: tuple[LaneCounts, ...], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        record_heartbeat(provisioned_device.id, heartbeat(1, T0, *lanes), received_at=T0)
    assert not DeviceHealth.objects.exists()
