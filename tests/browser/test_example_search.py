"""Search by an uploaded image in a real browser: upload, pick an object or a face, see results.

The stores hold vtest.avi's frame-0 pedestrians and the person crops of opencv-doc's messi5.jpg,
recorded as ingest does and embedded by the real crop model and the faces analyser. The user
uploads a later vtest.avi frame and picks a pedestrian, then a rescaled copy of the photo and
picks the face.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.services import embed_detections
from cloud.faces.analyser import build
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.ingest.crops import parse_upload
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from tests.browser.conftest import log_in
from tests.cloud.conftest import PEDESTRIAN
from tests.cloud.faces.photos import jpeg, store_person_crops
from tests.cloud.faces.stores import configured_stores
from tests.cloud.ingest.footage import OBJECTS, vtest_frame
from tests.cloud.ingest.uploads import crop_request
from tests.footage.photos import MESSI, photo
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct horse battery"


@pytest.fixture
def seeded(
    live_server: LiveServer,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """Stores installed as the process's own (the live server is a thread of this process)."""
    objects = LocalObjectStore(
        LocalObjectStoreSettings(type="local", root=tmp_path / "objects", url_signing_key="e" * 32)
    )
    objects.ensure_bucket()
    Device.objects.create(
        id=PEDESTRIAN.device_id, site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    with configured_stores(tmp_path, objects, settings, monkeypatch):
        ids = []
        for item in OBJECTS[:4]:  # frame 0: three people and the van
            detection = parse_upload(crop_request(item))
            record_detection(detection, objects)
            ids.append(detection.id)

        def make(**changes: Any) -> NewDetection:
            return dataclasses.replace(PEDESTRIAN, **changes)

        ids += [row.id for row in store_person_crops(photo(MESSI), "pitch", make, objects)]
        embed_detections(ids, analysers=[build()])
        make_user("operator", password=PASSWORD)
        yield


def test_an_uploaded_frame_and_photo_find_the_person_and_the_face(
    live_server: LiveServer, seeded: None, page: Page, tmp_path: Path, screenshots: Path
) -> None:
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(jpeg(vtest_frame(3)))
    footballer = tmp_path / "footballer.jpg"
    footballer.write_bytes(jpeg(cv2.resize(photo(MESSI), None, fx=1.2, fy=1.2)))
    log_in(page, f"{live_server.url}/example/", "operator", PASSWORD)

    page.get_by_label("Photo or video frame").set_input_files(str(frame))
    page.get_by_role("button", name="Upload and detect").click()
    expect(page.get_by_role("heading", name="Objects found")).to_be_visible()
    page.screenshot(path=screenshots / "example-picks.png", full_page=True)
    page.locator(".choices a[title='Find objects like this one']").first.click()
    expect(page.get_by_role("heading", name="Objects like the uploaded one")).to_be_visible()
    expect(page.locator("ol.ranked > li")).to_have_count(6)  # 4 vtest tracks, 2 photo tracks
    page.screenshot(path=screenshots / "example-results.png", full_page=True)

    page.goto(f"{live_server.url}/example/")
    page.get_by_label("Photo or video frame").set_input_files(str(footballer))
    page.get_by_role("button", name="Upload and detect").click()
    expect(page.get_by_role("heading", name="Faces found: 1")).to_be_visible()
    page.locator('a[title="Find this person\'s face"]').click()
    expect(page.get_by_role("heading", name="Same person: 1")).to_be_visible()
    expect(page.locator("ol.same-person > li")).to_have_count(1)
    page.screenshot(path=screenshots / "example-face.png", full_page=True)
