from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import Device, DeviceEvent, DeviceStatus
from cloud.fleet.services import provision_device, record_device_status, record_event

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


def test_it_stores_a_redelivered_event_once(provisioned_device: Device) -> None:
    payload = {"reason": "camera lobby reconnected", "attempt": 3}
    first = record_event(
        provisioned_device.id, seq=41, kind="camera.reconnected", payload=payload, ts=T0
    )
    again = record_event(
        provisioned_device.id, seq=41, kind="camera.reconnected", payload=payload, ts=T0
    )
    assert (first, again) == (True, False)
    event = DeviceEvent.objects.get()
    assert (event.seq, event.kind, event.payload) == (41, "camera.reconnected", payload)


def test_it_keeps_events_with_different_seqs_apart(provisioned_device: Device) -> None:
    for seq in (1, 2):
        record_event(provisioned_device.id, seq=seq, kind="restart", payload={}, ts=T0)
    assert DeviceEvent.objects.count() == 2


@pytest.mark.django_db
def test_it_refuses_events_from_an_unprovisioned_device() -> None:
    with pytest.raises(NotFound):
        record_event("ghost", seq=1, kind="restart", payload={}, ts=T0)


@pytest.mark.django_db
def test_provisioning_creates_a_device_once() -> None:
    assert provision_device("edge-7", hardware_profile="x86-cpu", site="lab") is True
    assert provision_device("edge-7", hardware_profile="jetson-orin") is False
    device = Device.objects.get(pk="edge-7")
    assert (device.site, device.hardware_profile) == ("lab", "x86-cpu")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("device_id", "profile"), [("bad/id", "x86-cpu"), ("edge-8", "raspberry-pi")]
)
def test_provisioning_refuses_what_the_fleet_cannot_hold(device_id: str, profile: str) -> None:
    with pytest.raises(InvalidInput, match="cannot provision"):
        provision_device(device_id, hardware_profile=profile)
    assert not Device.objects.filter(pk=device_id).exists()
