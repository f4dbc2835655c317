"""The JSON API: its schema, authentication (token or session), scoping, and JSON errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from cloud import backends
from cloud.access import tokens
from cloud.detections.models import Detection
from cloud.fleet.models import Camera, CameraGroup
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable
from tests.cloud.search.data import SearchData, track_id
from tests.users import make_user

T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    # The per-user rate limit counts in the cache, which outlives a test's database.
    cache.clear()


@pytest.fixture
def crops(search_data: SearchData) -> dict[str, Detection]:
    """Lobby crops (group hq/entrances) and a yard crop (hq/outside) nearest the query."""
    rows = {
        "query": search_data.add([1, 0, 0, 0], ts=T0),
        "lobby": search_data.add([0.5, 0.5, 0, 0], ts=T0 + timedelta(minutes=1), label="car"),
        "yard": search_data.add(
            [1, 0.05, 0, 0],
            camera_id="yard",
            track_id=track_id("yard/1"),
            ts=T0 + timedelta(minutes=2),
        ),
    }
    entrances = CameraGroup.objects.create(site_id="hq", name="entrances")
    entrances.cameras.add(Camera.objects.get(edge_id="lobby"))
    return rows


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def door(crops: dict[str, Detection]) -> dict[str, str]:
    """Headers of a viewer scoped to the entrances group, calling with a token."""
    user = make_user("door", all_sites=False, groups=[CameraGroup.objects.get()])
    return bearer(tokens.create_token(user.pk, "test")[1])


@pytest.fixture
def everywhere(crops: dict[str, Detection]) -> dict[str, str]:
    return bearer(tokens.create_token(make_user("everywhere").pk, "test")[1])


def search(client: Client, headers: dict[str, str], query: dict[str, Any]) -> Any:
    response = client.get("/api/v1/detections", query, headers=headers)
    assert response.status_code == 200, response.content
    return response.json()


def ids(body: dict[str, Any]) -> list[str]:
    return [item["id"] for item in body["items"]]


def test_the_schema_describes_every_endpoint(client: Client, db: None) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["info"]["title"] == "Sightline API"
    assert set(schema["paths"]) >= {
        "/api/v1/detections",
        "/api/v1/detections/{detection_id}",
        "/api/v1/detections/{detection_id}/similar",
        "/api/v1/devices",
        "/api/v1/tokens",
        "/api/v1/tokens/{token_id}",
    }
    assert {"TokenAuth", "SessionAuth"} <= set(schema["components"]["securitySchemes"])
    assert client.get("/api/v1/docs").status_code == 200
    assert client.get("/api/v1/").json() == {
        "openapi": "http://testserver/api/v1/openapi.json",
        "docs": "http://testserver/api/v1/docs",
    }


@pytest.mark.parametrize("headers", [{}, bearer("slt_nope"), {"Authorization": "Basic x"}])
def test_it_answers_401_in_json_without_a_token_or_session(
    client: Client, db: None, headers: dict[str, str]
) -> None:
    response = client.get("/api/v1/detections", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


def test_it_searches_with_the_grid_s_filters(
    client: Client, crops: dict[str, Detection], everywhere: dict[str, str]
) -> None:
    body = client.get("/api/v1/detections", headers=everywhere).json()
    assert ids(body) == [crops["yard"].id, crops["lobby"].id, crops["query"].id]
    assert body["has_next"] is False
    first = body["items"][2]
    assert first["label"] == "person"
    assert first["camera_name"] == "gate-01/lobby"
    assert first["crop_url"].startswith("http://testserver/objects/crops/gate-01/lobby/")
    assert set(first["box"]) == {"x_min", "y_min", "x_max", "y_max"}
    car = client.get("/api/v1/detections", {"label": "car"}, headers=everywhere).json()
    assert ids(car) == [crops["lobby"].id]
    window = {
        "since": (T0 + timedelta(minutes=1)).isoformat(),
        "until": (T0 + timedelta(minutes=2)).isoformat(),
    }
    assert ids(search(client, everywhere, window)) == [crops["lobby"].id]
    yard = Camera.objects.get(edge_id="yard").pk
    assert ids(search(client, everywhere, {"camera": yard})) == [crops["yard"].id]


def test_it_pages_without_counting(
    client: Client, crops: dict[str, Detection], everywhere: dict[str, str]
) -> None:
    first = client.get("/api/v1/detections", {"page_size": 2}, headers=everywhere).json()
    assert ids(first) == [crops["yard"].id, crops["lobby"].id]
    assert first["has_next"] is True
    second = search(client, everywhere, {"page_size": 2, "page": 2})
    assert ids(second) == [crops["query"].id]
    assert second["has_next"] is False


def test_a_scoped_token_sees_only_its_group(
    client: Client, crops: dict[str, Detection], door: dict[str, str]
) -> None:
    body = client.get("/api/v1/detections", headers=door).json()
    assert ids(body) == [crops["lobby"].id, crops["query"].id]
    yard = Camera.objects.get(edge_id="yard").pk
    # Another group's camera is refused, as the page's form refuses it.
    assert client.get("/api/v1/detections", {"camera": yard}, headers=door).status_code == 400
    response = client.get(f"/api/v1/detections/{crops['yard'].id}", headers=door)
    assert response.status_code == 404
    assert crops["yard"].object_key not in response.content.decode()
    similar = client.get(f"/api/v1/detections/{crops['query'].id}/similar", headers=door).json()
    assert similar["embedded"] is True
    assert ids(similar) == [crops["lobby"].id]
    other = client.get(f"/api/v1/detections/{crops['yard'].id}/similar", headers=door)
    assert other.status_code == 404
    devices = client.get("/api/v1/devices", headers=door).json()
    assert [(d["id"], [c["edge_id"] for c in d["cameras"]]) for d in devices["items"]] == [
        ("gate-01", ["lobby"])
    ]


def test_similar_objects_through_the_api_are_best_first(
    client: Client, crops: dict[str, Detection], everywhere: dict[str, str]
) -> None:
    url = f"/api/v1/detections/{crops['query'].id}/similar"
    body = client.get(url, {"k": 1}, headers=everywhere).json()
    assert body["query"]["id"] == crops["query"].id
    assert ids(body) == [crops["yard"].id]
    assert body["items"][0]["similarity"] == pytest.approx(0.9988, abs=1e-3)


def test_similar_objects_of_a_crop_not_embedded_yet_say_so(
    client: Client, crops: dict[str, Detection], everywhere: dict[str, str], search_data: SearchData
) -> None:
    fresh = search_data.add(ts=T0 + timedelta(minutes=5))
    body = client.get(f"/api/v1/detections/{fresh.id}/similar", headers=everywhere).json()
    assert (body["query"]["id"], body["embedded"], body["items"]) == (fresh.id, False, [])


def test_a_detection_comes_with_a_crop_url_that_serves_the_crop(
    client: Client, crops: dict[str, Detection], everywhere: dict[str, str], search_data: SearchData
) -> None:
    body = client.get(f"/api/v1/detections/{crops['query'].id}", headers=everywhere).json()
    assert body["id"] == crops["query"].id
    image = Client().get(body["crop_url"].removeprefix("http://testserver"))
    assert image.status_code == 200
    assert b"".join(image.streaming_content) == search_data.jpeg


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-11-21T10:00:00Z", "until": "2026-11-21T09:00:00Z"}, "request"),
        ({"since": "yesterday"}, "since"),
        ({"camera": "lobby"}, "camera"),
        ({"page": "0"}, "page"),
        ({"page_size": "1000"}, "page_size"),
    ],
)
def test_bad_filters_answer_400_with_a_message_per_field(
    client: Client, everywhere: dict[str, str], query: dict[str, str], field: str
) -> None:
    response = client.get("/api/v1/detections", query, headers=everywhere)
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "invalid request"
    assert field in body["errors"], body
    assert all(isinstance(message, str) for message in body["errors"][field])


def test_unknown_ids_and_paths_answer_404_in_json(
    client: Client, everywhere: dict[str, str]
) -> None:
    for url in (
        "/api/v1/detections/nope",
        # No id has a NUL; PostgreSQL would refuse the lookup itself, so it is never made.
        "/api/v1/detections/bad%00id",
        "/api/v1/tracks/bad%00id",
        "/api/v1/nothing/here",
        "/api/v1/detections/x/y/z",
    ):
        response = client.get(url, headers=everywhere)
        assert response.status_code == 404, url
        assert response["Content-Type"].startswith("application/json")
        assert "detail" in response.json()


def test_a_store_that_is_down_answers_503_without_its_address(
    client: Client,
    crops: dict[str, Detection],
    everywhere: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def objects_down() -> None:
        raise ObjectStoreUnavailable("S3 at 10.0.0.8:9000 did not answer")

    def vectors_down() -> None:
        raise VectorStoreUnavailable("weaviate at http://10.0.0.7:8080 did not answer")

    monkeypatch.setattr(backends, "vector_store", vectors_down)
    similar = client.get(f"/api/v1/detections/{crops['query'].id}/similar", headers=everywhere)
    assert similar.status_code == 503
    assert similar.json() == {"detail": "the vector store is unavailable; try again shortly"}
    monkeypatch.setattr(backends, "object_store", objects_down)
    response = client.get("/api/v1/detections", headers=everywhere)
    assert response.status_code == 503
    assert "10.0.0.8" not in response.content.decode()


def test_it_answers_429_past_the_rate_limit(
    client: Client, everywhere: dict[str, str], settings: Any
) -> None:
    settings.API_RATE = "2/m"
    statuses = [client.get("/api/v1/tokens", headers=everywhere).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert "detail" in client.get("/api/v1/tokens", headers=everywhere).json()


def test_a_session_manages_its_own_tokens_with_csrf(db: None) -> None:
    user = make_user("scripter")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/api/v1/tokens").json() == []
    refused = browser.post("/api/v1/tokens", {"name": "ci"}, content_type="application/json")
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("application/json")
    browser.get("/account/tokens/")
    csrf = browser.cookies["csrftoken"].value
    made = browser.post(
        "/api/v1/tokens", {"name": "ci"}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert made.status_code == 201
    token = made.json()["token"]
    listed = Client().get("/api/v1/tokens", headers=bearer(token)).json()
    assert [(t["name"], t["revoked_at"]) for t in listed] == [("ci", None)]
    assert listed[0]["last_used_at"] is not None
    deleted = Client().delete(f"/api/v1/tokens/{listed[0]['id']}", headers=bearer(token))
    assert deleted.status_code == 204
    assert Client().get("/api/v1/tokens", headers=bearer(token)).status_code == 401
    blank = Client().post("/api/v1/tokens", {"name": ""}, content_type="application/json")
    assert blank.status_code == 401
