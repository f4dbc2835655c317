"""The search pages' capabilities through the API: sightings, a track's page, similar search by
detection and by track, text search and search by an uploaded image; all scoped like the pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings

from cloud import backends
from cloud.access import tokens
from cloud.detections.models import Detection
from cloud.detections.services import PathPoint, record_track_summary
from cloud.faces.models import Face
from cloud.faces.recognizer import SAME_PERSON_COSINE
from cloud.fleet.models import Camera, CameraGroup, Device
from cloud.imagetext.model import ImageTextModel
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.search import image_text
from cloud.search.similarity import DEFAULT_THRESHOLD
from tests.cloud.imagetext.tiny_clip import TinyClip
from tests.cloud.search.data import SearchData, track_id
from tests.cloud.search.test_example_views import frame_jpeg
from tests.users import make_user

T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
CONTEXT = b"\xff\xd8 the whole lobby \xff\xd9"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # Rate limits, upload budgets and uploads are kept in the cache, which outlives a test.
    cache.clear()
    yield
    cache.clear()


def bearer(user_name: str, **access: Any) -> dict[str, str]:
    user = make_user(user_name, **access)
    return {"Authorization": f"Bearer {tokens.create_token(user.pk, 'test')[1]}"}


def get(client: Client, headers: dict[str, str], url: str, query: Any = None) -> Any:
    response = client.get(url, query or {}, headers=headers)
    assert response.status_code == 200, response.content
    return response.json()


def crop_ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["crop"]["id"] if "crop" in item else item["id"] for item in items]


@pytest.fixture
def sightings(search_data: SearchData) -> dict[str, Detection]:
    """A walker in the lobby (two crops, a context frame and a path, 10 s), a car in the lobby
    (1 s) and a look-alike in the yard; the lobby alone is in the group "entrances"."""
    walker = track_id("lobby/walker")
    rows = {
        "early": search_data.add([1, 0, 0, 0], track_id=walker, score=0.6, ts=T0),
        "walker": search_data.add(
            [1, 0.1, 0, 0],
            track_id=walker,
            score=0.9,
            ts=T0 + timedelta(seconds=4),
            context_jpeg=CONTEXT,
        ),
        "car": search_data.add([0.5, 0.5, 0, 0], ts=T0 + timedelta(minutes=1), label="car"),
        "yard": search_data.add([1, 0.05, 0, 0], camera_id="yard", ts=T0 + timedelta(minutes=2)),
    }
    record_track_summary(
        "gate-01",
        camera_id="lobby",
        track_id=walker,
        label="person",
        first_seen=T0,
        last_seen=T0 + timedelta(seconds=10),
        path=[PathPoint(T0, 0.1, 0.5), PathPoint(T0 + timedelta(seconds=9), 0.9, 0.6)],
    )
    entrances = CameraGroup.objects.create(site_id="hq", name="entrances")
    entrances.cameras.add(Camera.objects.get(edge_id="lobby"))
    return rows


def test_the_schema_lists_every_search_with_its_threshold(client: Client, db: None) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert set(schema["paths"]) >= {
        "/api/v1/tracks",
        "/api/v1/tracks/{track_id}",
        "/api/v1/tracks/{track_id}/similar",
        "/api/v1/detections/{detection_id}/similar",
        "/api/v1/search/text",
        "/api/v1/search/image",
        "/api/v1/search/image/{upload_id}/objects/{index}",
        "/api/v1/search/image/{upload_id}/faces/{index}",
        "/api/v1/search/faces/{detection_id}",
    }
    for methods in schema["paths"].values():
        for operation in methods.values():
            assert operation.get("description"), operation["operationId"]
    similar = schema["paths"]["/api/v1/tracks/{track_id}/similar"]["get"]
    min_score = next(p for p in similar["parameters"] if p["name"] == "min_score")
    assert f"{DEFAULT_THRESHOLD}" in min_score["description"]
    upload = schema["paths"]["/api/v1/search/image"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


def test_sightings_filter_order_and_page_as_the_grid(
    client: Client, sightings: dict[str, Detection]
) -> None:
    everyone = bearer("everyone")
    newest = get(client, everyone, "/api/v1/tracks")
    assert crop_ids(newest["items"]) == [
        sightings["yard"].id,
        sightings["car"].id,
        sightings["walker"].id,
    ]
    walker = newest["items"][2]
    assert (walker["site"], walker["camera_name"], walker["duration_s"]) == (
        "hq",
        "gate-01/lobby",
        10.0,
    )
    oldest = get(client, everyone, "/api/v1/tracks", {"order": "oldest", "page_size": 2})
    assert crop_ids(oldest["items"]) == [sightings["walker"].id, sightings["car"].id]
    assert oldest["has_next"] is True
    group = CameraGroup.objects.get().pk
    longer = {"group": group, "min_duration": 5}
    assert crop_ids(get(client, everyone, "/api/v1/tracks", longer)["items"]) == [
        sightings["walker"].id
    ]
    assert crop_ids(get(client, everyone, "/api/v1/tracks", {"site": "hq"})["items"]) == crop_ids(
        newest["items"]
    )
    refused = client.get("/api/v1/tracks", {"min_duration": 9, "max_duration": 2}, headers=everyone)
    assert refused.status_code == 400
    assert "request" in refused.json()["errors"]


def test_a_track_has_what_its_page_shows(client: Client, sightings: dict[str, Detection]) -> None:
    walker = sightings["walker"]
    body = get(client, bearer("everyone"), f"/api/v1/tracks/{walker.track_id}")
    assert [crop["id"] for crop in body["crops"]] == [sightings["early"].id, walker.id]
    assert body["best_crop_id"] == walker.id
    frame = body["context_frame"]
    assert f"contexts/gate-01/lobby/2026/11/21/{walker.id}.jpg" in frame["image_url"]
    image = Client().get(frame["image_url"].removeprefix("http://testserver"))
    assert b"".join(image.streaming_content) == CONTEXT
    assert frame["box"]["x_min"] == pytest.approx(walker.x_min)
    assert frame["box"]["y_max"] == pytest.approx(walker.y_max)
    assert [(p["x"], p["y"]) for p in body["path"]] == [(0.1, 0.5), (0.9, 0.6)]
    assert body["first_seen"].startswith("2026-11-21T09:30:00")
    assert body["similar_status"] == "ok"
    assert crop_ids(body["similar_elsewhere"]) == [sightings["yard"].id]


def test_a_track_still_answers_when_the_vector_store_is_down(
    client: Client, sightings: dict[str, Detection], monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> None:
        raise VectorStoreUnavailable("weaviate at http://10.0.0.7:8080 did not answer")

    monkeypatch.setattr(backends, "vector_store", down)
    everyone = bearer("everyone")
    walker = sightings["walker"].track_id
    body = get(client, everyone, f"/api/v1/tracks/{walker}")
    assert (body["similar_status"], body["similar_elsewhere"]) == ("unavailable", None)
    assert len(body["crops"]) == 2
    similar = client.get(f"/api/v1/tracks/{walker}/similar", headers=everyone)
    assert similar.status_code == 503 and "10.0.0.7" not in similar.content.decode()


def test_similar_by_track_thresholds_and_orders(
    client: Client, sightings: dict[str, Detection]
) -> None:
    everyone = bearer("everyone")
    url = f"/api/v1/tracks/{sightings['walker'].track_id}/similar"
    body = get(client, everyone, url)
    assert body["embedded"] is True
    assert crop_ids(body["items"]) == [sightings["yard"].id, sightings["car"].id]
    assert body["items"][0]["similarity"] > DEFAULT_THRESHOLD
    close = get(client, everyone, url, {"min_score": DEFAULT_THRESHOLD})
    assert crop_ids(close["items"]) == [sightings["yard"].id]
    by_time = get(client, everyone, url, {"order": "oldest"})
    assert crop_ids(by_time["items"]) == [sightings["car"].id, sightings["yard"].id]
    by_detection = f"/api/v1/detections/{sightings['car'].id}/similar"
    kept = get(client, everyone, by_detection, {"min_score": 0.9, "label": "person"})
    assert kept["items"] == []


@pytest.mark.parametrize(
    ("q", "message"),
    [("", "type what"), ("x" * 5000, "too long"), ("person\x00; DROP TABLE", "control")],
)
def test_text_queries_that_cannot_be_searched_are_400s(
    client: Client, db: None, q: str, message: str
) -> None:
    response = client.get("/api/v1/search/text", {"q": q}, headers=bearer("everyone"))
    assert response.status_code == 400
    assert message in response.json()["detail"].lower()


def test_a_scoped_token_never_gets_another_group_s_crop(
    client: Client, sightings: dict[str, Detection]
) -> None:
    door = bearer("door", all_sites=False, groups=[CameraGroup.objects.get()])
    hidden = sightings["yard"]
    answers = [
        get(client, door, "/api/v1/tracks"),
        get(client, door, f"/api/v1/tracks/{sightings['walker'].track_id}"),
        get(client, door, f"/api/v1/tracks/{sightings['walker'].track_id}/similar"),
        get(client, door, f"/api/v1/detections/{sightings['walker'].id}/similar"),
        get(client, door, "/api/v1/search/text", {"q": "person"}),
    ]
    text = answers[-1]
    assert text["understood"]["terms"] == ["person"]
    assert crop_ids(text["items"]) == [sightings["walker"].id]
    for answer in answers:
        assert hidden.id not in str(answer) and hidden.object_key not in str(answer)
    for url in (
        f"/api/v1/tracks/{hidden.track_id}",
        f"/api/v1/tracks/{hidden.track_id}/similar",
        f"/api/v1/search/faces/{hidden.id}",
    ):
        assert client.get(url, headers=door).status_code == 404, url
    yard = Camera.objects.get(edge_id="yard").pk
    assert client.get("/api/v1/tracks", {"camera": yard}, headers=door).status_code == 400


@pytest.fixture
def yard_only(frame_zero: dict[str, str], provisioned_device: Device) -> dict[str, str]:
    """Headers of a token of a user who sees only the yard, where frame 0's objects are not."""
    yard = Camera.objects.create(device=provisioned_device, edge_id="yard")
    group = CameraGroup.objects.create(site_id=provisioned_device.site_id, name="yard")
    group.cameras.add(yard)
    return bearer("outside", all_sites=False, groups=[group])


def test_search_by_an_uploaded_image_within_scope(
    client: Client, frame_zero: dict[str, str], yard_only: dict[str, str], settings: Settings
) -> None:
    everyone, outside = bearer("everyone"), yard_only
    made = client.post(
        "/api/v1/search/image",
        {"image": SimpleUploadedFile("f.jpg", frame_jpeg(3))},
        headers=everyone,
    )
    assert made.status_code == 201, made.content
    upload = made.json()
    people = [o for o in upload["objects"] if o["label"] == "person"]
    assert len(people) >= 3 and upload["objects"][-1]["kind"] == "whole"
    assert people[0]["thumbnail"].startswith("data:image/jpeg;base64,")
    url = f"/api/v1/search/image/{upload['upload_id']}/objects/{people[0]['index']}"
    found = get(client, everyone, url)
    assert len(found["items"]) == 4
    assert found["items"][0]["crop"]["id"] in frame_zero.values()
    # Another user cannot search by this upload; a scoped one gets nothing of the lobby.
    assert client.get(url, headers=outside).status_code == 404
    faces = f"/api/v1/search/image/{upload['upload_id']}/faces/{len(upload['faces'])}"
    assert client.get(faces, headers=everyone).status_code == 404
    stored = get(client, everyone, f"/api/v1/search/faces/{frame_zero['woman']}")
    assert stored["query"]["id"] == frame_zero["woman"]
    assert (
        client.get(f"/api/v1/search/faces/{frame_zero['woman']}", headers=outside).status_code
        == 404
    )
    theirs = client.post(
        "/api/v1/search/image",
        {"image": SimpleUploadedFile("f.jpg", frame_jpeg(3))},
        headers=outside,
    ).json()
    whole = len(theirs["objects"]) - 1
    answer = get(client, outside, f"/api/v1/search/image/{theirs['upload_id']}/objects/{whole}")
    assert answer["items"] == []
    # The page's limits, as JSON.
    bad = client.post(
        "/api/v1/search/image", {"image": SimpleUploadedFile("f.jpg", b"GIF89a")}, headers=everyone
    )
    assert bad.status_code == 400 and "JPEG or PNG" in bad.json()["detail"]
    settings.EXAMPLE_SEARCH = {"max_upload_bytes": 1000}
    big = client.post(
        "/api/v1/search/image",
        {"image": SimpleUploadedFile("f.jpg", frame_jpeg(3))},
        headers=everyone,
    )
    assert big.status_code == 413 and "too large" in big.json()["detail"]
    settings.EXAMPLE_SEARCH = {"uploads_per_minute": 1}
    # Two more: past the budget even should a new minute start between them.
    busy = [
        client.post(
            "/api/v1/search/image", {"image": SimpleUploadedFile("f.jpg", b"x")}, headers=everyone
        )
        for _ in range(2)
    ]
    assert busy[-1].status_code == 429 and "Too many uploads" in busy[-1].json()["detail"]


def test_faces_from_a_stored_crop_come_with_sface_s_verdict(
    client: Client, stored: dict[str, list[Detection]]
) -> None:
    messi, again = (
        Face.objects.get(detection__in=stored[name]).detection for name in ("messi", "messi again")
    )
    body = get(client, bearer("everyone"), f"/api/v1/search/faces/{messi.id}")
    assert body["has_face"] is True
    assert [item["crop"]["id"] for item in body["items"] if item["same_person"]] == [again.id]
    assert body["items"][0]["similarity"] >= SAME_PERSON_COSINE
    lobby = get(
        client, bearer("lobby"), f"/api/v1/search/faces/{messi.id}", {"camera": messi.camera_id}
    )
    assert not any(item["same_person"] for item in lobby["items"])


def test_text_nothing_understands_is_answered_by_the_image_text_plug_in(
    client: Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tiny: TinyClip,
    model: ImageTextModel,
    objects: ObjectStore,
    analysed: dict[str, Any],
) -> None:
    settings.IMAGE_TEXT = tiny.settings.model_dump(mode="json")
    monkeypatch.setattr(image_text, "image_text_model", lambda: model)
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    body = get(client, bearer("everyone"), "/api/v1/search/text", {"q": "zxqv"})
    assert body["understood"] is None and "Nothing in" in body["not_understood"]
    assert body["items"] == []
    assert len(body["image_text"]) == len(analysed)
    assert all(item["similarity"] is not None for item in body["image_text"])
