"""Login rate limiting in a real browser: after too many wrong passwords the login page says
the account is paused and for how long, and even the right password waits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from tests.users import make_user

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Every attempt checks a password: the production hasher's slowness is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def attempt(page: Page, base_url: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def alice(transactional_db: None) -> None:
    # Before the browser starts: Django refuses ORM calls while its event loop runs.
    make_user("alice", password=PASSWORD)


def test_a_locked_out_user_is_told_why_and_for_how_long(
    live_server: LiveServer, alice: None, page: Page, screenshots: Path
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(page, live_server.url, "wrong")
        expect(page.locator("p.error")).to_have_text("Your username and password did not match.")
    attempt(page, live_server.url, "wrong")
    message = page.locator("#locked-out")
    expect(message).to_contain_text("Too many failed logins for alice")
    expect(message).to_contain_text("paused for 15 minutes")
    page.screenshot(path=screenshots / "login-locked-out.png", full_page=True)
    attempt(page, live_server.url, PASSWORD)
    expect(page.locator("#locked-out")).to_be_visible()
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
