"""A headless Chromium for browser tests: Debian's `chromium` package driven by Playwright.

Playwright's own browser builds are never downloaded (`playwright install` needs a host this
project cannot reach); the system binary is launched through `executable_path` instead. A
missing binary skips the test, or fails it when CI is set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        reason = "chromium is missing: apt-get install chromium chromium-driver"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{reason} (CI is set)", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture
def browser() -> Iterator[Browser]:
    """A fresh Chromium per test.

    Function-scoped on purpose: the sync API runs an event loop in this thread while it is
    open, and Django refuses ORM calls from a thread with a running loop, so the browser must
    start after a test's data is written and stop before the database is flushed.
    """
    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in its own context (own cookies), 1280x900, with a 10 s default timeout."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshots() -> Path:
    """Where screenshots go (repo-root artifacts/, which git ignores)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def log_in(page: Page, url: str, username: str, password: str) -> None:
    """Open `url`, log in on the page it redirects to, and wait until back at `url`."""
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url)
