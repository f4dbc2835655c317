"""A label's classifier page in a real browser: a labeler sees the held-out precision and
recall, asks for a training, and watches the backfill's progress bar fill as the page polls.

No Celery worker runs here: the training's queueing is recorded, and the backfill is driven
from a thread of the test, a page of crops at a time, while the page polls its progress.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from django.db import connections
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud.access.models import Role
from cloud.learned import services, tasks
from tests.browser.conftest import log_in
from tests.cloud.conftest import make_detection, provisioned_device, search_data  # noqa: F401
from tests.cloud.learned.conftest import Crops, crops  # noqa: F401
from tests.users import make_user

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


@pytest.fixture
def trained(live_server: LiveServer, crops: Crops, monkeypatch: pytest.MonkeyPatch) -> int:  # noqa: F811
    """Version 1 of the label's classifier, its backfill not started; pages of 4 crops."""
    crops.marked_set()
    make_user("lab", Role.LABELER, password=PASSWORD)
    classifier_id = services.train_label(crops.label.pk).classifier_id
    assert classifier_id is not None
    monkeypatch.setattr(services, "PAGE", 4)
    return classifier_id


@pytest.fixture
def queued() -> Iterator[mock.MagicMock]:
    with mock.patch.object(tasks.train_label, "apply_async") as apply_async:
        yield apply_async


def backfill_slowly(classifier_id: int) -> threading.Thread:
    """Run the backfill a page at a time, half a second apart, in a thread that shares the
    test's in-memory database connection, as the live server's threads do."""
    connection = connections["default"]
    connection.inc_thread_sharing()

    def run() -> None:
        connections["default"] = connection
        try:
            while not services.backfill(classifier_id, budget_s=0):
                time.sleep(0.5)
        finally:
            connection.dec_thread_sharing()

    return threading.Thread(target=run, daemon=True)


def test_a_labeler_watches_the_backfill_of_a_learned_label(
    live_server: LiveServer,
    crops: Crops,  # noqa: F811
    trained: int,
    queued: mock.MagicMock,
    page: Page,
    screenshots: Path,
) -> None:
    url = f"{live_server.url}/labels/{crops.label.pk}/classifier/"
    worker = backfill_slowly(trained)
    log_in(page, url, "lab", PASSWORD)
    expect(page.locator("#version")).to_have_text("1")
    expect(page.locator("#precision")).to_have_text("1.00")
    expect(page.locator("#recall")).to_have_text("1.00")
    expect(page.locator("#status")).to_contain_text("version 1 trained on 6 positive")

    page.get_by_role("button", name="Train now").click()
    expect(page.get_by_text("Training of red jacket queued.")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("(training queued)")
    queued.assert_called_once()

    worker.start()  # the page polls while the thread scores the 12 crops, 4 at a time
    expect(page.locator("#backfill-text")).to_have_text("12 of 12, finished", timeout=15_000)
    expect(page.locator("#backfill")).to_have_attribute("max", "12")
    assert page.locator("#backfill").evaluate("bar => bar.value") == 12
    page.screenshot(path=screenshots / "learned-label-backfilled.png", full_page=True)
    worker.join(timeout=5)
