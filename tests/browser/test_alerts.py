"""Alerts in a real browser: made from a text search, then new crops arrive and match.

Real vtest.avi crops (tests/cloud/attributes/vtest_people.py) are recorded as ingest records
them and analysed by the colour analyser as the embed worker does; a labeler searches "man in a
red jacket", makes an alert with "Alert me", then the same people are seen again (new crops,
run through the embed worker's alert matching) and the alert's page lists the two matches with
links to their crops and tracks.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud import backends
from cloud.access.models import Role
from cloud.alerts.matching import match_new_crops
from cloud.alerts.models import Alert
from cloud.attributes.analyser import ColourAnalyser
from cloud.detections.models import Detection
from cloud.detections.services import record_detection
from cloud.embeddings.embedder import decode_jpeg
from cloud.lib.objectstore.local import LocalObjectStore
from tests.browser.conftest import log_in
from tests.browser.test_text_search import PASSWORD, from_gate, seeded
from tests.cloud.attributes.vtest_people import ALL, detection
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

__all__ = ["seeded"]


def _arrive(objects: LocalObjectStore) -> list[Detection]:
    """The same people seen again: new crops, analysed and matched as the embed worker does."""
    for item in ALL:
        record_detection(
            detection(item, from_gate, id=str(uuid.uuid4()), track_id=str(uuid.uuid4())), objects
        )
    rows = list(Detection.objects.filter(received_at__gte=Alert.objects.get().created_at))
    ColourAnalyser().analyse([(row, decode_jpeg(objects.get(row.object_key))) for row in rows])
    # A text alert reads no vector; the shape is the worker's.
    match_new_crops(rows, np.zeros((len(rows), 4), dtype=np.float32))
    return rows


def events_track(page: Page) -> str:
    """The track id of the track page open in `page`."""
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_an_alert_made_from_a_search_lists_new_matches_with_their_crop_and_track(
    live_server: LiveServer,
    seeded: None,
    page: Page,
    screenshots: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    objects = backends.object_store()
    assert isinstance(objects, LocalObjectStore)
    # The test writes rows between browser steps, in this thread, where Playwright's sync API
    # keeps an event loop running (Django refuses ORM calls there unless told).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    make_user("ana", Role.LABELER, password=PASSWORD)
    log_in(page, f"{live_server.url}/text/", "ana", PASSWORD)
    page.get_by_label("Describe what to find").fill("man in a red jacket")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Alert me").click()

    expect(page.get_by_role("heading", name="New alert")).to_be_visible()
    expect(page.locator("#watching")).to_contain_text("man in a red jacket")
    page.get_by_label("Name").fill("red jackets")
    page.get_by_label("Webhook URL").fill("ftp://files.example/")  # the browser lets it pass
    page.get_by_role("button", name="Make alert").click()
    expect(page.get_by_text("Give an http:// or https:// URL.")).to_be_visible()
    page.get_by_label("Webhook URL").fill("")
    page.get_by_role("button", name="Make alert").click()
    expect(page.get_by_role("heading", name="red jackets")).to_be_visible()
    expect(page.get_by_text("No matches yet.")).to_be_visible()

    arrived = _arrive(objects)
    page.reload()

    events = page.locator("#alert-events tbody tr")
    expect(events).to_have_count(2)  # the red-top woman and the red-and-navy man
    matched = {row.id: row for row in arrived}
    for link in page.locator("#alert-events a.crop-link").all():
        assert link.get_attribute("href").split("/")[2] in matched
    images = page.locator("#alert-events img")
    expect(images).to_have_count(2)
    page.screenshot(path=screenshots / "alert-events.png", full_page=True)

    events.first.get_by_role("link", name="Track").click()
    page.wait_for_url("**/tracks/*/")
    assert events_track(page) in {row.track_id for row in arrived}
    page.get_by_role("link", name="Alerts", exact=True).click()
    expect(page.locator("#alerts")).to_contain_text("red jackets")
    page.screenshot(path=screenshots / "alerts.png", full_page=True)
