from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from cloud import backends
from cloud.lib.objectstore import create_object_store
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from cloud.lib.objectstore.s3 import S3ObjectStoreSettings

KEY = "crops/gate-01/lobby/2026/11/21/01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b.jpg"
JPEG = b"\xff\xd8\xff\xe0 a small stand-in for crop bytes \xff\xd9"


class Clock:
    """A clock the test moves; the store dates and checks its URLs with it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> LocalObjectStore:
    settings = LocalObjectStoreSettings(
        type="local", root=tmp_path / "objects", url_signing_key="s" * 32
    )
    local = LocalObjectStore(settings, clock=clock)
    local.ensure_bucket()
    local.put(KEY, JPEG, "image/jpeg")
    monkeypatch.setattr(backends, "object_store", lambda: local)
    return local


def test_it_serves_an_object_to_anyone_holding_a_valid_url(
    client: Client, store: LocalObjectStore, db: None
) -> None:
    response = client.get(store.presigned_get_url(KEY, timedelta(minutes=5)))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Length"] == str(len(JPEG))
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Cache-Control"].startswith("private, max-age=")
    assert b"".join(response.streaming_content) == JPEG


def test_it_keeps_the_stored_content_type(
    client: Client, store: LocalObjectStore, db: None
) -> None:
    key = "models/nanodet-g/1/nanodet-g.onnx"
    store.put(key, b"onnx bytes", "application/octet-stream")
    response = client.get(store.presigned_get_url(key, timedelta(minutes=5)))
    assert response["Content-Type"] == "application/octet-stream"


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return parts._replace(query=urlencode({**query, **changes})).geturl()


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: with_query(url, sig="0" * 64),
        lambda url: with_query(url, exp=str(int(parse_qs(urlsplit(url).query)["exp"][0]) + 3600)),
        lambda url: url.replace("01935f1e-7c4a", "01935f1e-7c4b"),
        lambda url: url.split("?")[0],
        lambda url: with_query(url, sig="not hex"),
    ],
    ids=["signature", "later-expiry", "other-key", "no-parameters", "malformed"],
)
def test_it_refuses_a_tampered_url(
    client: Client, store: LocalObjectStore, db: None, tamper: Callable[[str], str]
) -> None:
    url = store.presigned_get_url(KEY, timedelta(minutes=5))
    response = client.get(tamper(url))
    assert response.status_code == 403
    assert b"This link is not valid" in response.content


def test_it_says_an_expired_url_is_gone(
    client: Client, store: LocalObjectStore, clock: Clock, db: None
) -> None:
    url = store.presigned_get_url(KEY, timedelta(minutes=5))
    clock.now += timedelta(minutes=5, seconds=1)
    response = client.get(url)
    assert response.status_code == 410
    assert b"This link has expired" in response.content
    assert b"Reload the page" in response.content


def test_it_calls_a_tampered_expired_url_invalid_not_expired(
    client: Client, store: LocalObjectStore, clock: Clock, db: None
) -> None:
    url = store.presigned_get_url(KEY, timedelta(minutes=5))
    clock.now += timedelta(minutes=10)
    assert client.get(with_query(url, sig="0" * 64)).status_code == 403


def test_it_answers_404_for_a_signed_url_of_a_missing_object(
    client: Client, store: LocalObjectStore, db: None
) -> None:
    store.delete(KEY)
    assert client.get(store.presigned_get_url(KEY, timedelta(minutes=5))).status_code == 404


def test_it_serves_nothing_when_objects_live_in_s3(
    client: Client, store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch, db: None
) -> None:
    # S3 presigned URLs point at the S3 server; this route must not become a way around it.
    s3 = create_object_store(
        S3ObjectStoreSettings(
            type="s3",
            endpoint="127.0.0.1:9",
            bucket="crops",
            access_key="sightline",
            secret_key="not-used-no-request-is-sent",
            secure=False,
        )
    )
    url = store.presigned_get_url(KEY, timedelta(minutes=5))
    monkeypatch.setattr(backends, "object_store", lambda: s3)
    assert client.get(url).status_code == 404
