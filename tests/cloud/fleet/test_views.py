"""The devices page: status, last sighting and the losses each device counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cloud.fleet.models import Device, DeviceStatus, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.fleet.services import Heartbeat, record_device_status, record_heartbeat
from tests.cloud.fleet.heartbeats import heartbeat, lane

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def operator(client: Client, db: None) -> Client:
    client.force_login(User.objects.create_user("operator"))
    return client


def lossy(seq: int, sampled_at: datetime, *, dead_letters: int, error: str = "") -> Heartbeat:
    """A heartbeat of a device that dropped crops, dead-lettered some, cut two tracks short."""
    return heartbeat(
        seq,
        sampled_at,
        lane(
            "crop",
            rows=12,
            bytes=3 * 1024**2,
            dropped_total=4,
            dead_letters_total=dead_letters,
            delivered_total=1234,
        ),
        lane("record", delivered_total=56, error=error),
        session_seq=3,
        outbox_rows=12,
        outbox_bytes=3 * 1024**2,
        outbox_dropped_total=4,
        tracks_interrupted_total=2,
        disk_free_bytes=5 * 1024**3,
    )


def test_it_needs_a_login(client: Client, db: None) -> None:
    response = client.get("/devices/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_it_shows_each_devices_status_and_the_losses_it_counted(operator: Client) -> None:
    Device.objects.create(
        id="gate-01",
        name="Gate 1",
        site=ensure_site("hq"),
        hardware_profile=HardwareProfile.X86_CPU,
    )
    Device.objects.create(
        id="yard-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.JETSON_ORIN
    )
    record_device_status("gate-01", status=DeviceStatus.ONLINE, seq=3, ts=T0)
    sampled = T0 + timedelta(minutes=5)
    record_heartbeat(
        "gate-01",
        lossy(90, sampled, dead_letters=7, error="device token revoked"),
        received_at=sampled + timedelta(seconds=1),
    )

    with CaptureQueriesContext(connection) as queries:
        response = operator.get("/devices/")
    assert response.status_code == 200
    page = response.content.decode()
    # The session and user, then one query for every device and its heartbeat.
    assert len(queries) == 3
    gate = page[page.index('id="device-gate-01"') : page.index('id="device-yard-02"')]
    assert 'class="error"' in gate  # it lost data: the row stands out
    for text in (
        "Gate 1",
        "Online",
        "2026-11-21 09:05:00",  # last seen: the heartbeat, later than the birth
        "12 rows, 3.0\xa0MB (dropped 4)",
        "crop: 4 / 7 / 1234, 12 waiting",
        "record: 0 / 0 / 56",
        "stopped: device token revoked",
        "5.0\xa0GB",
        "2026-11-21 09:05:01",
    ):
        assert text in gate, text
    yard = page[page.index('id="device-yard-02"') :]
    assert "Offline" in yard
    assert "never" in yard
    assert "no heartbeat yet" in yard
    assert 'href="/devices/"' in page  # the nav link


def test_a_device_that_lost_nothing_does_not_stand_out(operator: Client) -> None:
    Device.objects.create(
        id="gate-01", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    clean = heartbeat(1, T0, lane("crop", delivered_total=20))
    record_heartbeat("gate-01", clean, received_at=T0)
    page = operator.get("/devices/").content.decode()
    assert 'id="device-gate-01" class="error"' not in page
    assert 'id="device-gate-01"' in page


def test_it_says_when_there_are_no_devices(operator: Client) -> None:
    assert "No devices are provisioned yet." in operator.get("/devices/").content.decode()
