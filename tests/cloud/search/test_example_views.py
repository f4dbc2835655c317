"""Search by an uploaded image: real detector and crop embedder on vtest.avi frames; every bad
upload answered with a message and a 4xx, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings

from cloud.detections.services import record_detection
from cloud.embeddings.services import embed_detections
from cloud.fleet.models import Device
from cloud.ingest.crops import parse_upload
from cloud.lib.objectstore import ObjectStore
from cloud.search.example import UploadAnalysis
from tests.cloud.faces.stores import configured_stores
from tests.cloud.ingest.footage import OBJECTS, vtest_frame
from tests.cloud.ingest.uploads import crop_request
from tests.cloud.lib.jpeg_samples import declaring
from tests.users import make_user


@pytest.fixture
def analyst(client: Client, db: None) -> Iterator[Client]:
    cache.clear()  # the upload budget is counted in the cache, per user and minute
    client.force_login(make_user("analyst"))
    yield client
    cache.clear()


@pytest.fixture
def frame_zero(
    tmp_path: Path,
    objects: ObjectStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    provisioned_device: Device,
) -> Iterator[dict[str, str]]:
    """The three people and the van of vtest.avi's frame 0, stored as ingest stores them and
    embedded; detection id by name."""
    with configured_stores(tmp_path, objects, settings, monkeypatch):
        ids = {}
        for item in OBJECTS[:4]:
            detection = parse_upload(crop_request(item))
            record_detection(detection, objects)
            ids[item.name] = detection.id
        embed_detections(list(ids.values()), analysers=[])
        yield ids


def upload(client: Client, data: bytes, name: str = "frame.jpg") -> object:
    return client.post("/example/", {"image": SimpleUploadedFile(name, data)})


def frame_jpeg(index: int) -> bytes:
    ok, data = cv2.imencode(".jpg", vtest_frame(index), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(data)


def analysis_after(client: Client, response: object) -> UploadAnalysis:
    assert getattr(response, "status_code", None) == 302
    page = client.get(response["Location"])  # type: ignore[index]
    assert page.status_code == 200
    analysis: UploadAnalysis = page.context["analysis"]
    return analysis


def distance(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Between the centres of two boxes, in pixels."""
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2))


def test_a_later_frame_finds_the_same_person_first(
    analyst: Client, frame_zero: dict[str, str]
) -> None:
    analysis = analysis_after(analyst, upload(analyst, frame_jpeg(3)))

    people = [choice for choice in analysis.objects if choice.label == "person"]
    assert len(people) >= 3
    assert analysis.objects[-1].kind == "whole"
    # The detected object whose crop centre is nearest the woman's box in frame 3.
    woman = next(item for item in OBJECTS if item.name == "woman" and item.frame == 3)
    index = min(
        range(len(analysis.objects) - 1),
        key=lambda i: distance(analysis.objects[i].box, woman.box),
    )
    response = analyst.get(f"/example/{analysis.upload_id}/objects/{index}/")

    assert response.status_code == 200
    cards = response.context["cards"]
    assert cards[0].detection.id == frame_zero["woman"]
    assert len(cards) == 4
    assert b"data:image/jpeg;base64," in response.content


def test_an_image_with_nothing_detected_offers_the_whole_image(
    analyst: Client, frame_zero: dict[str, str]
) -> None:
    blank = np.full((240, 320, 3), 90, np.uint8)
    ok, png = cv2.imencode(".png", blank)
    assert ok
    response = upload(analyst, bytes(png), "blank.png")
    analysis = analysis_after(analyst, response)
    assert [choice.kind for choice in analysis.objects] == ["whole"]
    assert analysis.faces == []
    page = analyst.get(response["Location"])  # type: ignore[index]
    assert "Nothing was detected in this image" in page.content.decode()

    results = analyst.get(f"/example/{analysis.upload_id}/objects/0/")
    assert results.status_code == 200
    assert len(results.context["cards"]) == 4


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"just some text", 400, "This is not a JPEG or PNG image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, 400, "The PNG file is damaged"),
        (declaring(30000, 30000), 400, "The image is 30000 x 30000 pixels"),
        (b"\xff\xd8" + b"x" * 5000, 413, "The file is too large"),
        (b"", 400, "The submitted file is empty."),
        (None, 400, "Choose an image file to upload."),
    ],
    ids=["text", "corrupt png", "too many pixels", "too many bytes", "empty file", "no file"],
)
def test_a_bad_upload_gets_a_message_and_a_4xx(
    analyst: Client, settings: Settings, data: bytes | None, status: int, message: str
) -> None:
    settings.EXAMPLE_SEARCH = {**settings.EXAMPLE_SEARCH, "max_upload_bytes": 4000}
    form = {} if data is None else {"image": SimpleUploadedFile("x.jpg", data)}
    response = analyst.post("/example/", form)
    assert response.status_code == status
    assert message in response.content.decode()


def test_too_many_uploads_are_refused_for_a_while(analyst: Client, settings: Settings) -> None:
    settings.EXAMPLE_SEARCH = {**settings.EXAMPLE_SEARCH, "uploads_per_minute": 2}
    for _ in range(2):
        assert upload(analyst, b"not an image").status_code == 400  # counted all the same
    response = upload(analyst, b"not an image")
    assert response.status_code == 429
    assert "Too many uploads: at most 2 a minute" in response.content.decode()


def test_links_to_an_upload_no_longer_kept_say_so(
    analyst: Client, frame_zero: dict[str, str]
) -> None:
    first = analysis_after(analyst, upload(analyst, frame_jpeg(0)))
    second = analysis_after(analyst, upload(analyst, frame_jpeg(3)))
    for url in (
        f"/example/{first.upload_id}/objects/0/",
        f"/example/{first.upload_id}/faces/0/",
        f"/example/?upload={first.upload_id}",
        "/example/not-an-upload/objects/0/",
    ):
        response = analyst.get(url)
        assert response.status_code == 410, url
        assert "This upload is no longer available" in response.content.decode()
    missing = analyst.get(f"/example/{second.upload_id}/objects/99/")
    assert missing.status_code == 404
    assert "No such object in this upload" in missing.content.decode()


def test_the_filters_carry_through_an_upload_to_its_results(
    analyst: Client, frame_zero: dict[str, str]
) -> None:
    ok, png = cv2.imencode(".png", np.full((240, 320, 3), 90, np.uint8))
    assert ok
    response = analyst.post(
        "/example/?label=person&min_score=0.5", {"image": SimpleUploadedFile("b.png", bytes(png))}
    )
    location = response["Location"]
    assert location.endswith("&label=person&min_score=0.5")
    analysis = analysis_after(analyst, response)
    page = analyst.get(location).content.decode()
    pick = f"/example/{analysis.upload_id}/objects/0/?label=person&amp;min_score=0.5"
    assert f'href="{pick}"' in page
    assert 'name="upload" value="' in page  # the filter panel keeps the upload shown

    results = analyst.get(f"/example/{analysis.upload_id}/objects/0/", {"label": "person"})
    cards = results.context["cards"]
    assert len(cards) == 3 and all(card.track.label == "person" for card in cards)
    best = max(card.similarity for card in cards)
    above = analyst.get(
        f"/example/{analysis.upload_id}/objects/0/", {"min_score": f"{best - 1e-4:.6f}"}
    )
    assert len(above.context["cards"]) == 1
    refused = analyst.get(f"/example/{analysis.upload_id}/objects/0/", {"min_score": "2"})
    assert refused.status_code == 200
    assert b"Fix the filters above to search." in refused.content
