"""A label's suggestions in a real browser: accept several in bulk, reject one.

Pedestrian crops are cut from vtest.avi by OpenCV's HOG people detector over a few seconds of
the clip (so one person shows in several crops, as several sightings), embedded with the real
crop model, and one crop is marked positive for a label; the real refresh
(`cloud.labels.suggestions.refresh_suggestions`) fills the suggestions. The user selects with
the mouse (click, Shift-click) and decides with the keyboard (A, R).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud import backends
from cloud.access.models import Role
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.services import embed_detections
from cloud.embeddings.spec import CROP_EMBEDDING_DIMENSION
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.labels.marks import apply_marks
from cloud.labels.models import Label, Value
from cloud.labels.suggestions import refresh_suggestions
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings
from tests.browser.test_search import people, read_frame, require_crop_model
from tests.footage.clips import VTEST, source
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FRAMES = (100, 106, 112, 118, 124)
START = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
PASSWORD = "correct horse battery"
ID_NAMESPACE = uuid.UUID("9d6c0e1a-3f52-4b7e-8a19-2c4d6e8f0b13")
# Far below the default (0.90, calibrated by tests/bench/bench_spreading.py), so that the eleven
# crops of five frames give the page several suggestions to decide on.
THRESHOLD = 0.7


@dataclass(frozen=True)
class Seeded:
    label: Label
    suggested: int


@pytest.fixture
def seeded(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Seeded]:
    require_crop_model()
    objects = LocalObjectStore(
        LocalObjectStoreSettings(type="local", root=tmp_path / "objects", url_signing_key="c" * 32)
    )
    objects.ensure_bucket()
    vectors = EmbeddedVectorStore(
        EmbeddedVectorStoreSettings(path=tmp_path / "vectors.sqlite3"),
        dimension=CROP_EMBEDDING_DIMENSION,
    )
    vectors.ensure_collection()
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    monkeypatch.setattr(backends, "vector_store", lambda: vectors)
    Device.objects.create(
        id="gate-01", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    labeler = make_user("labeler", Role.LABELER, password=PASSWORD)
    ids = []
    capture = cv2.VideoCapture(str(source(VTEST)))
    try:
        for frame_index in FRAMES:
            frame = read_frame(capture, frame_index)
            height, width = frame.shape[:2]
            for n, (x1, y1, x2, y2, score) in enumerate(people(frame)):
                ok, jpeg = cv2.imencode(".jpg", frame[y1:y2, x1:x2])
                assert ok
                detection_id = str(uuid.uuid5(ID_NAMESPACE, f"{frame_index}/{n}"))
                record_detection(
                    NewDetection(
                        id=detection_id,
                        device_id="gate-01",
                        camera_id="lobby",
                        track_id=str(uuid.uuid5(ID_NAMESPACE, f"track {frame_index}/{n}")),
                        ts=START + timedelta(seconds=frame_index / 10),
                        x_min=x1 / width,
                        y_min=y1 / height,
                        x_max=x2 / width,
                        y_max=y2 / height,
                        frame_width=width,
                        frame_height=height,
                        label="person",
                        score=score,
                        model_name="opencv-hog-people",
                        model_version=cv2.__version__,
                        jpeg=bytes(jpeg),
                    ),
                    objects,
                )
                ids.append(detection_id)
    finally:
        capture.release()
    assert sorted(embed_detections(ids, objects=objects, vectors=vectors).embedded) == sorted(ids)
    label = Label.objects.create(name="Pedestrian", positive_threshold=THRESHOLD)
    apply_marks(label, {ids[0]: Value.POSITIVE}, labeler)
    suggested = refresh_suggestions(label.pk, store=vectors).suggested
    assert suggested >= 4, f"only {suggested} suggestions from {len(ids)} crops"
    yield Seeded(label, suggested)
    vectors.close()


def log_in(page: Page, url: str) -> None:
    page.goto(url)
    page.get_by_label("Username").fill("labeler")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url)


def test_a_labeler_accepts_suggestions_in_bulk_and_rejects_one(
    live_server: LiveServer, seeded: Seeded, page: Page, screenshots: Path
) -> None:
    url = f"{live_server.url}/labels/{seeded.label.pk}/suggestions/"
    log_in(page, url)
    cards = page.locator(".suggestion")
    expect(cards).to_have_count(seeded.suggested)
    confidences = [
        float(value)
        for value in page.locator(".confidence data").evaluate_all(
            "nodes => nodes.map(node => node.getAttribute('value'))"
        )
    ]
    assert confidences == sorted(confidences, reverse=True) and 0 < confidences[-1] <= 1
    page.screenshot(path=screenshots / "suggestions.png", full_page=True)

    # Click the first, Shift-click the third: three selected; A accepts them.
    accepted = [cards.nth(i).get_attribute("data-track") for i in range(3)]
    cards.nth(0).locator(".facts").click()
    cards.nth(2).locator(".facts").click(modifiers=["Shift"])
    expect(page.locator("#selected-count")).to_have_text("3 selected")
    expect(page.locator(".suggestion.selected")).to_have_count(3)
    page.screenshot(path=screenshots / "suggestions-selected.png", full_page=True)
    page.keyboard.press("a")
    expect(page.locator(".message")).to_contain_text("Accepted 3 suggestions")
    expect(cards).to_have_count(seeded.suggested - 3)
    for track in accepted:
        expect(page.locator(f'.suggestion[data-track="{track}"]')).to_have_count(0)

    # Reject the now first one with R.
    rejected = cards.nth(0).get_attribute("data-track")
    cards.nth(0).locator(".facts").click()
    page.keyboard.press("r")
    expect(page.locator(".message")).to_contain_text("Rejected 1 suggestion")
    expect(page.locator(f'.suggestion[data-track="{rejected}"]')).to_have_count(0)
    assert cards.count() <= seeded.suggested - 4
    page.screenshot(path=screenshots / "suggestions-after.png", full_page=True)

    # A reload repeats nothing (the verdicts were answered with a redirect).
    page.reload()
    expect(page.locator(".message")).to_have_count(0)
    expect(page.locator("h1")).to_contain_text("Suggestions")
    assert cards.count() <= seeded.suggested - 4  # less its near-duplicates, if any
