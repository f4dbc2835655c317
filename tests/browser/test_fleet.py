"""The fleet pages in a real browser: a staff user makes an enrolment token, the device spends
it at the enrolment endpoint, the fleet page filters down to it, and its page revokes it.

The broker's account API is the in-memory stand-in here (the live server runs in this
process); the real broker's side of enrolment and revocation is tests/integration/
test_enrolment.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud.access.models import Role
from cloud.fleet import api, registry, views
from cloud.fleet.services import provision_device
from tests.cloud.fleet.accounts import MemoryAccounts
from tests.users import make_user

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


@pytest.fixture
def seeded(transactional_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryAccounts]:
    """A staff user, two sites and a few devices; the broker in memory."""
    accounts = MemoryAccounts()
    monkeypatch.setattr(views, "accounts_from_settings", lambda: accounts)
    monkeypatch.setattr(api, "accounts_from_settings", lambda: accounts)
    make_user("admin", Role.OPERATOR, password=PASSWORD)
    registry.save_site("hq", name="Head office")
    provision_device("hq-old", hardware_profile="x86-cpu", site="hq")
    provision_device("lab-1", hardware_profile="x86-gpu", site="lab", tags=["beta"])
    yield accounts


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/devices/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/devices/")


def rows(page: Page) -> list[str]:
    ids: list[str] = page.locator("table.devices tbody tr").evaluate_all(
        "rows => rows.map(row => row.id.replace('device-', ''))"
    )
    return ids


def test_enrol_filter_and_revoke_in_a_real_browser(
    live_server: LiveServer, seeded: MemoryAccounts, page: Page, screenshots: Path
) -> None:
    base = live_server.url
    log_in(page, base)
    assert rows(page) == ["hq-old", "lab-1"]

    page.get_by_role("link", name="Enrol a device").click()
    expect(page.get_by_role("heading", name="Enrol a device")).to_be_visible()
    page.get_by_label("Site", exact=True).select_option("hq")
    page.get_by_label("Hardware", exact=True).select_option("jetson-xavier")
    page.get_by_label("Device id", exact=True).fill("gate-9")
    page.get_by_label("Tags", exact=True).fill("beta door")
    page.get_by_role("button", name="Make enrolment token").click()
    token = page.locator("#token").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    page.screenshot(path=screenshots / "fleet-enrol.png", full_page=True)

    # The device spends it, as it would: a plain JSON post, no session.
    answer = page.request.post(f"{base}/api/v1/enrol", data={"token": token})
    assert answer.status == 201
    assert answer.json()["device_id"] == "gate-9"
    assert page.request.post(f"{base}/api/v1/enrol", data={"token": token}).status == 410

    page.goto(f"{base}/devices/")
    assert rows(page) == ["gate-9", "hq-old", "lab-1"]  # by site, then id
    page.get_by_label("Tag", exact=True).select_option("beta")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.devices tbody tr")).to_have_count(2)
    page.get_by_label("Site", exact=True).select_option("hq")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    assert rows(page) == ["gate-9"]
    page.screenshot(path=screenshots / "fleet-filtered.png", full_page=True)
    page.get_by_label("Hardware", exact=True).select_option("x86-cpu")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No devices match these filters.")).to_be_visible()

    page.goto(f"{base}/devices/gate-9/")
    expect(page.locator("#tokens")).to_have_text("1 active, 0 revoked")
    expect(page.locator("#broker-account")).to_have_text("present")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(
        page.get_by_text("Revoked gate-9: 1 gRPC token(s), broker account deleted.")
    ).to_be_visible()
    expect(page.locator("#tokens")).to_have_text("0 active, 1 revoked")
    expect(page.locator("#broker-account")).to_have_text("absent")
    page.screenshot(path=screenshots / "fleet-revoked.png", full_page=True)
    assert not seeded.exists("gate-9")
