"""The devices page: status, last sighting and the losses each device counted."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from cloud.access.models import Role
from cloud.errors import NotFound
from cloud.fleet import registry, views
from cloud.fleet.models import Device, DeviceStatus, Enrolment, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.fleet.services import Heartbeat, provision_device, record_device_status
from cloud.ingest.credentials import authenticate_token, issue_token
from cloud.monitoring.services import record_heartbeat
from tests.cloud.fleet.accounts import MemoryAccounts
from tests.cloud.fleet.heartbeats import heartbeat, lane
from tests.cloud.monitoring.samples import camera, camera_heartbeat
from tests.users import make_user

T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@pytest.fixture
def operator(client: Client, db: None) -> Client:
    client.force_login(make_user("operator"))
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
    # The session and user, the user's access, the filters' four choice lists, the page's
    # count, then one query for every device with its site and heartbeat, one for their tags
    # and one for the alerts: none per device.
    assert len(queries) == 11
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


# Filters, the device page, enrolment and revocation ------------------------------------------


@pytest.fixture
def staff(client: Client, db: None) -> Client:
    client.force_login(make_user("admin", Role.OPERATOR))
    return client


@pytest.fixture
def accounts(monkeypatch: pytest.MonkeyPatch) -> MemoryAccounts:
    """The pages' broker: in memory."""
    memory = MemoryAccounts()
    monkeypatch.setattr(views, "accounts_from_settings", lambda: memory)
    return memory


def listed(client: Client, query: str = "") -> list[str]:
    page = client.get(f"/devices/{query}").content.decode()
    return re.findall(r'<tr id="device-([^"]+)"', page)


def test_the_fleet_page_filters_and_pages(operator: Client) -> None:
    for n in range(60):
        provision_device(
            f"dev-{n:02}",
            hardware_profile="jetson-xavier" if n % 2 else "x86-cpu",
            site="hq" if n < 30 else "lab",
            tags=["beta"] if n % 10 == 0 else [],
        )
    record_device_status("dev-31", status=DeviceStatus.ONLINE, seq=1, ts=T0, agent_version="2.0")
    first = listed(operator)
    assert len(first) == views.PAGE_SIZE
    assert first[:2] == ["dev-00", "dev-01"]  # by site, then id
    assert len(listed(operator, "?page=2")) == 60 - views.PAGE_SIZE
    assert listed(operator, "?site=hq&tag=beta") == ["dev-00", "dev-10", "dev-20"]
    assert listed(operator, "?site=lab&hardware=jetson-xavier&tag=beta") == []
    assert listed(operator, "?agent_version=2.0") == ["dev-31"]
    assert listed(operator, "?health=lagging") == ["dev-31"]  # online, no heartbeat yet
    page = operator.get("/devices/?site=hq&tag=nothing").content.decode()
    assert "Select a valid choice" in page
    empty = operator.get("/devices/?tag=beta&site=lab&hardware=x86-gpu").content.decode()
    assert "No devices match these filters." in empty
    # The pager keeps the filters.
    offline = operator.get("/devices/?health=offline").content.decode()
    assert 'href="?health=offline&amp;page=2"' in offline


def test_the_device_page_shows_registry_cameras_and_credentials(
    operator: Client, accounts: MemoryAccounts
) -> None:
    provision_device("gate-1", hardware_profile="jetson-orin", site="hq", tags=["beta"])
    registry.add_camera("gate-1", "door")
    registry.save_group("hq", "entrances")
    registry.assign_cameras("hq", "entrances", [("gate-1", "door")])
    issue_token("gate-1")
    accounts.put_device("gate-1", "hq", "pw")
    page = operator.get("/devices/gate-1/").content.decode()
    for text in ("Jetson Orin", "beta", "door", "entrances", "1 active, 0 revoked", "present"):
        assert text in page, text
    assert "no heartbeat yet" in page
    door = camera("door", infer_fps=4.5, frames_gated_total=1234, frames_dropped_total=56)
    record_heartbeat("gate-1", camera_heartbeat(1, T0, cameras=[door]), received_at=T0)
    page = operator.get("/devices/gate-1/").content.decode()
    (row,) = re.findall(r'<tr id="camera-door">.*?</tr>', page, re.DOTALL)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
    assert cells[3:] == ["connected", "4.5", "1234", "56"]
    # Revoking is for staff: no button for an operator, and a post is refused.
    assert "Revoke" not in page
    assert operator.post("/devices/gate-1/revoke/").status_code == 403
    assert accounts.exists("gate-1")
    assert operator.get("/devices/ghost/").status_code == 404


def test_staff_revoke_a_device_from_its_page(staff: Client, accounts: MemoryAccounts) -> None:
    provision_device("gate-1", hardware_profile="x86-cpu", site="hq")
    token = issue_token("gate-1")
    accounts.put_device("gate-1", "hq", "pw")
    assert "Revoke" in staff.get("/devices/gate-1/").content.decode()
    response = staff.post("/devices/gate-1/revoke/", follow=True)
    page = response.content.decode()
    assert "Revoked gate-1: 1 gRPC token(s), broker account deleted." in page
    assert "0 active, 1 revoked" in page
    assert "absent" in page
    with pytest.raises(NotFound):
        authenticate_token(token)
    assert staff.get("/devices/gate-1/revoke/").status_code == 405


def test_staff_make_an_enrolment_and_see_its_token_once(staff: Client) -> None:
    registry.save_site("hq")
    form = {
        "site": "hq",
        "hardware_profile": "jetson-xavier",
        "device_id": "gate-9",
        "name": "Gate 9",
        "tags": "beta, door",
        "expires_hours": "24",
    }
    page = staff.post("/enrolments/", form).content.decode()
    token = re.search(r'<code id="token">([^<]+)</code>', page)
    assert token is not None
    assert 'value="gate-9"' not in page  # the form is empty again
    enrolment = Enrolment.objects.get()
    assert enrolment.token_sha256 == hashlib.sha256(token.group(1).encode()).hexdigest()
    assert sorted(enrolment.tags.values_list("id", flat=True)) == ["beta", "door"]
    assert enrolment.created_by is not None
    again = staff.get("/enrolments/").content.decode()
    assert token.group(1) not in again
    assert enrolment.hint in again  # listed as waiting, by its hint
    bad = staff.post("/enrolments/", {**form, "device_id": "a b"}).content.decode()
    assert "device_id: Use 1-64 letters" in bad
    assert Enrolment.objects.count() == 1


def test_enrolling_is_for_staff_only(operator: Client) -> None:
    assert operator.get("/enrolments/").status_code == 403
    assert "Enrol a device" not in operator.get("/devices/").content.decode()
