"""The search page in a real browser, on real crops embedded by the real crop model.

Person crops are cut from OpenCV's vtest.avi by OpenCV's HOG people detector (a real detector
that ships inside cv2, so this test does not depend on the edge agent), stored in a local
object store, recorded as detections and embedded with the MobileNetV2 crop model, exactly as
ingest and the `embed` worker do. Then a user logs in through the form, filters the grid,
opens a crop's similar objects and the test checks what the browser actually rendered.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud import backends
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.services import embed_detections
from cloud.embeddings.spec import CROP_EMBEDDING_DIMENSION, CROP_MODEL_NAME
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings
from models.cache import resolve
from models.errors import ModelNotBuiltError
from tests.footage.clips import VTEST, source
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Frames with several pedestrians each; even ones go to the lobby camera, odd to the entrance.
FRAMES = (60, 180, 240, 300)
CAMERAS = ("lobby", "entrance")
START = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
FPS = 10
MIN_HOG_MARGIN = 0.5
PASSWORD = "correct horse battery"
ID_NAMESPACE = uuid.UUID("4b1f3e52-0c59-4a43-9d0e-7a2b8e5f6c31")


@dataclass(frozen=True)
class Seeded:
    """What the browser should find."""

    per_camera: dict[str, int]


def require_crop_model() -> None:
    try:
        resolve(CROP_MODEL_NAME)
    except ModelNotBuiltError as err:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{err} (CI is set)", pytrace=False)
        pytest.skip(str(err))


def read_frame(capture: cv2.VideoCapture, index: int) -> npt.NDArray[np.uint8]:
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    assert ok, f"cannot read frame {index} of {VTEST}"
    return frame


def people(frame: npt.NDArray[np.uint8]) -> list[tuple[int, int, int, int, float]]:
    """HOG person boxes (x1, y1, x2, y2, score) in frame pixels, clipped to the frame."""
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    rects, margins = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
    height, width = frame.shape[:2]
    boxes = []
    for (x, y, w, h), margin in zip(rects, np.ravel(margins), strict=True):
        if margin >= MIN_HOG_MARGIN:
            # The SVM margin is unbounded; a logistic maps it into the [0, 1] of a score.
            score = 1 / (1 + math.exp(-float(margin)))
            boxes.append((max(0, x), max(0, y), min(width, x + w), min(height, y + h), score))
    return boxes


@pytest.fixture
def seeded(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Seeded]:
    """Crops, detections and vectors in stores installed as the process's own, plus a user."""
    require_crop_model()
    objects = LocalObjectStore(
        LocalObjectStoreSettings(type="local", root=tmp_path / "objects", url_signing_key="b" * 32)
    )
    objects.ensure_bucket()
    vectors = EmbeddedVectorStore(
        EmbeddedVectorStoreSettings(path=tmp_path / "vectors.sqlite3"),
        dimension=CROP_EMBEDDING_DIMENSION,
    )
    vectors.ensure_collection()
    # The live server runs in a thread of this process, so it sees these stores too.
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    monkeypatch.setattr(backends, "vector_store", lambda: vectors)

    Device.objects.create(
        id="gate-01",
        name="Gate 1",
        site=ensure_site("hq"),
        hardware_profile=HardwareProfile.X86_CPU,
    )
    make_user("operator", password=PASSWORD)
    per_camera = dict.fromkeys(CAMERAS, 0)
    ids = []
    capture = cv2.VideoCapture(str(source(VTEST)))
    try:
        for position, frame_index in enumerate(FRAMES):
            frame = read_frame(capture, frame_index)
            camera = CAMERAS[position % len(CAMERAS)]
            ts = START + timedelta(seconds=frame_index / FPS)
            for n, (x1, y1, x2, y2, score) in enumerate(people(frame)):
                detection_id = str(uuid.uuid5(ID_NAMESPACE, f"{frame_index}/{n}"))
                ok, jpeg = cv2.imencode(".jpg", frame[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, 90])
                assert ok
                height, width = frame.shape[:2]
                record_detection(
                    NewDetection(
                        id=detection_id,
                        device_id="gate-01",
                        camera_id=camera,
                        track_id=str(uuid.uuid5(ID_NAMESPACE, f"{camera}/{frame_index}-{n}")),
                        ts=ts,
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
                per_camera[camera] += 1
    finally:
        capture.release()
    assert min(per_camera.values()) >= 3, f"HOG found too few people: {per_camera}"
    report = embed_detections(ids, objects=objects, vectors=vectors)
    assert sorted(report.embedded) == sorted(ids)
    yield Seeded(per_camera)
    vectors.close()


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/")
    # Anonymous users land on the login form first.
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")


def natural_widths(page: Page, selector: str) -> list[int]:
    """Scroll every image into view (they load lazily), wait for them, return their widths."""
    images = page.locator(selector)
    for index in range(images.count()):
        images.nth(index).scroll_into_view_if_needed()
    page.wait_for_function(
        "selector => [...document.querySelectorAll(selector)].every(img => img.complete)",
        arg=selector,
    )
    widths: list[int] = images.evaluate_all("images => images.map(img => img.naturalWidth)")
    return widths


def test_it_searches_similar_people_in_a_real_browser(
    live_server: LiveServer, seeded: Seeded, page: Page, screenshots: Path
) -> None:
    # `seeded` comes before `page`: the data is written before the browser's event loop starts.
    log_in(page, live_server.url)
    expect(page.get_by_role("heading", name="Detections")).to_be_visible()
    crops = page.locator("ul.crops > li")
    expect(crops).to_have_count(sum(seeded.per_camera.values()))
    widths = natural_widths(page, "ul.crops img")
    assert widths and all(width > 0 for width in widths), widths
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=screenshots / "search-grid.png", full_page=True)

    page.get_by_label("Camera", exact=True).select_option(label="gate-01/lobby")
    page.get_by_role("button", name="Apply filters").click()
    expect(crops).to_have_count(seeded.per_camera["lobby"])

    query_alt = crops.first.locator("img").get_attribute("alt")
    crops.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Similar objects")).to_be_visible()
    expect(page.locator(".query img")).to_have_attribute("alt", query_alt or "")
    results = page.locator("ol.ranked > li")
    # Every other lobby crop, since the filter travelled with the link; never the query itself.
    expect(results).to_have_count(seeded.per_camera["lobby"] - 1)
    scores = [
        float(value)
        for value in page.locator("ol.ranked .similarity data").evaluate_all(
            "items => items.map(item => item.value)"
        )
    ]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= score <= 1.0 for score in scores)
    cameras = page.locator("ol.ranked dt:text-is('Camera') + dd").all_inner_texts()
    assert set(cameras) == {"gate-01/lobby"}
    widths = natural_widths(page, "main img")
    assert all(width > 0 for width in widths), widths
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=screenshots / "search-similar.png", full_page=True)
