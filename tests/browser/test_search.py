"""The search page in a real browser, on real crops embedded by the real crop model.

Person crops are cut from OpenCV's vtest.avi by OpenCV's HOG people detector (a real detector
that ships inside cv2, so this test does not depend on the edge agent), stored in a local
object store, recorded as detections and embedded with the MobileNetV2 crop model, exactly as
ingest and the `embed` worker do, each with its context frame (the whole frame, downscaled as
the edge sends it). Then a user logs in through the form, filters the grid, opens a crop's
similar objects or a sighting's track page, and the tests check what the browser rendered.
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
from cloud.detections.services import (
    NewDetection,
    PathPoint,
    record_detection,
    record_track_summary,
)
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


CONTEXT_WIDTH = 640


@dataclass(frozen=True)
class Seeded:
    """What the browser should find."""

    per_camera: dict[str, int]
    walker: str
    """A lobby track with a path: its box centre, reached from the left over two seconds."""
    walker_box: tuple[float, float, float, float]
    """Its best crop's box, normalised."""


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
    walker: str | None = None
    walker_box = (0.0, 0.0, 0.0, 0.0)
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
                context_size = (CONTEXT_WIDTH, round(height * CONTEXT_WIDTH / width))
                scene = cv2.resize(frame, context_size, interpolation=cv2.INTER_AREA)
                ok, context = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 70])
                assert ok
                track = str(uuid.uuid5(ID_NAMESPACE, f"{camera}/{frame_index}-{n}"))
                record_detection(
                    NewDetection(
                        id=detection_id,
                        device_id="gate-01",
                        camera_id=camera,
                        track_id=track,
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
                        context_jpeg=bytes(context),
                    ),
                    objects,
                )
                if camera == "lobby" and walker is None:
                    walker = track
                    walker_box = (x1 / width, y1 / height, x2 / width, y2 / height)
                    centre = ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height)
                    record_track_summary(
                        "gate-01",
                        camera_id=camera,
                        track_id=track,
                        label="person",
                        first_seen=ts - timedelta(seconds=2),
                        last_seen=ts,
                        path=[
                            PathPoint(ts - timedelta(seconds=2), 0.05, centre[1]),
                            PathPoint(ts - timedelta(seconds=1), centre[0] / 2, centre[1]),
                            PathPoint(ts, *centre),
                        ],
                    )
                ids.append(detection_id)
                per_camera[camera] += 1
    finally:
        capture.release()
    assert min(per_camera.values()) >= 3, f"HOG found too few people: {per_camera}"
    report = embed_detections(ids, objects=objects, vectors=vectors)
    assert sorted(report.embedded) == sorted(ids)
    assert walker is not None
    yield Seeded(per_camera, walker, walker_box)
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
    expect(page.get_by_role("heading", name="Sightings")).to_be_visible()
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
    crops.first.get_by_role("link", name="Similar objects").click()
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


def test_a_sighting_opens_its_track_with_the_boxed_scene_and_path(
    live_server: LiveServer, seeded: Seeded, page: Page, screenshots: Path
) -> None:
    log_in(page, live_server.url)
    page.get_by_label("Camera", exact=True).select_option(label="gate-01/lobby")
    page.get_by_label("Sort").select_option(label="Oldest first")
    page.get_by_label("Seen at least").fill("1")
    page.get_by_role("button", name="Apply filters").click()
    # Only the walker's sighting lasted a second or more.
    crops = page.locator("ul.crops > li")
    expect(crops).to_have_count(1)
    expect(crops.first.locator("dt:text-is('For') + dd")).to_have_text("2.0 s")
    crops.first.locator("a.thumb").click()
    page.wait_for_url(f"{live_server.url}/tracks/{seeded.walker}/")
    expect(page.get_by_role("heading", name="Person on camera gate-01/lobby")).to_be_visible()
    expect(page.locator(".duration")).to_have_text("2.0 s")
    scene = page.locator(".scene-frame img")
    scene.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.scene-frame img').complete")
    assert scene.evaluate("img => img.naturalWidth") == CONTEXT_WIDTH
    # The box is drawn where the crop was: its normalised box, scaled to the shown image.
    image = scene.bounding_box()
    drawn = page.locator(".overlay rect.box").bounding_box()
    assert image is not None and drawn is not None
    x_min, y_min, x_max, y_max = seeded.walker_box
    expected = (
        image["x"] + x_min * image["width"],
        image["y"] + y_min * image["height"],
        (x_max - x_min) * image["width"],
        (y_max - y_min) * image["height"],
    )
    # The stroke straddles the edge: the drawn box is up to half its width larger each side.
    got = (drawn["x"], drawn["y"], drawn["width"], drawn["height"])
    assert got == pytest.approx(expected, abs=4), (got, expected)
    points = page.locator(".overlay polyline.path").get_attribute("points") or ""
    assert len(points.split()) == 3
    # The path ends at the box centre.
    end_x, end_y = (float(v) / 1000 for v in points.split()[-1].split(","))
    assert end_x == pytest.approx((x_min + x_max) / 2, abs=1e-3)
    assert end_y == pytest.approx((y_min + y_max) / 2, abs=1e-3)
    # Similar people on the other camera, on a timeline with this sighting.
    rows = page.locator("ol.timeline > li")
    expect(rows.filter(has_text="This sighting")).to_have_count(1)
    assert rows.count() > 1
    assert set(page.locator("ol.timeline a").all_inner_texts()) == {"person on gate-01/entrance"}
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=screenshots / "search-track.png", full_page=True)
