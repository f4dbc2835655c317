"""A rollout started and steered in a real browser: a staff user fills the form, previews the
plan, starts the rollout, sees it running its first stage, pauses it with a reason, finds the
pause in the audit log, and resumes it.

The fleet and its models are the rollout tests' (tests/cloud/rollouts/conftest.py); nothing
drives the gate here (no Celery beat), so the rollout stays at its first stage.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud.access.models import Role
from cloud.deploy.models import ModelVersion

# The rollout tests' fixtures, by name: the eight-device fleet running version 1 and the store
# version 2 was uploaded to.
from tests.browser.conftest import log_in
from tests.cloud.conftest import objects, operator, store  # noqa: F401
from tests.cloud.rollouts.conftest import fleet, old_and_new  # noqa: F401
from tests.users import make_user

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


@pytest.fixture
def staff(live_server: LiveServer) -> None:
    make_user("admin", Role.OPERATOR, password=PASSWORD)


def test_start_pause_and_resume_a_rollout_in_a_real_browser(
    live_server: LiveServer,
    staff: None,
    old_and_new: tuple[ModelVersion, ModelVersion],  # noqa: F811
    page: Page,
    screenshots: Path,
) -> None:
    base = live_server.url
    log_in(page, f"{base}/rollouts/", "admin", PASSWORD)
    expect(page.get_by_text("No rollouts yet.")).to_be_visible()

    page.get_by_role("link", name="Start a rollout").click()
    page.get_by_label("Name", exact=True).fill("nanodet-2")
    page.get_by_label("Model version", exact=True).select_option(label="nanodet-g 2")
    page.get_by_label("Hardware", exact=True).select_option("x86-cpu")
    expect(page.get_by_label("Stages", exact=True)).to_have_value("1,10%,50%,100%")
    page.get_by_role("button", name="Preview").click()
    # The six CPU devices: a canary, one more at 10% and at 50% (rounded up), then the rest.
    stages = page.locator("table.plan tbody tr")
    expect(stages).to_have_count(4)
    expect(stages.first).to_contain_text("1: cpu-")
    expect(stages.last).to_contain_text("3: cpu-")
    expect(page.locator("#plan")).not_to_contain_text("gpu-")
    page.screenshot(path=screenshots / "rollout-preview.png", full_page=True)

    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{base}/rollouts/nanodet-2/")
    expect(page.get_by_text("Rollout nanodet-2 started.")).to_be_visible()
    expect(page.locator("#phase")).to_have_text("running")
    expect(page.locator("#stage")).to_have_text("1 of 4")
    expect(page.locator("#stage-1")).to_contain_text("current")
    expect(page.locator("#audit tbody tr")).to_have_count(1)

    page.get_by_label("Reason", exact=True).fill("camera maintenance tonight")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#phase")).to_have_text("paused")
    entry = page.locator("#audit tbody tr").last
    expect(entry).to_contain_text("admin")
    expect(entry).to_contain_text("paused: camera maintenance tonight")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    page.screenshot(path=screenshots / "rollout-paused.png", full_page=True)

    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#phase")).to_have_text("running")
    expect(page.locator("#audit tbody tr").last).to_contain_text("resumed")

    page.goto(f"{base}/rollouts/")
    expect(page.locator("#rollout-nanodet-2")).to_contain_text("running")
    expect(page.locator("#rollout-nanodet-2")).to_contain_text("1/4")
