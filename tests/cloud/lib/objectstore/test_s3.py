"""`S3ObjectStore` without an S3 server: settings, error translation and failing fast.

Error answers come from a small HTTP server on 127.0.0.1 that replies with what a test asks
for, so each S3 error code and HTTP failure is checked through the real SDK and connection
pool. The behaviour against a real server is in tests/conformance/test_objectstore_s3.py.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from cloud.lib.objectstore import (
    BackendUnavailable,
    BucketNotFound,
    ObjectNotFound,
    ObjectStoreAuthError,
    ObjectStoreError,
    ObjectStoreUnavailable,
)
from cloud.lib.objectstore.s3 import S3ObjectStore, S3ObjectStoreSettings


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/xml"
    delay_s: float = 0.0


@dataclass
class StubS3:
    """Answers every request with `reply` and records the requests' headers."""

    endpoint: str
    reply: Reply = field(default_factory=lambda: Reply(200))
    headers: list[dict[str, str]] = field(default_factory=list)
    """Headers of each request received, with lower-cased names."""

    @property
    def requests(self) -> int:
        return len(self.headers)


def s3_error(code: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>stub says {code}</Message><Resource>/b/k</Resource>"
        "<RequestId>1</RequestId></Error>"
    ).encode()


@pytest.fixture
def stub() -> Iterator[StubS3]:
    state = StubS3(endpoint="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            state.headers.append({name.lower(): value for name, value in self.headers.items()})
            reply = state.reply
            time.sleep(reply.delay_s)
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first: that is what timeout tests want

        do_GET = do_PUT = do_HEAD = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # Join handler threads on close, so a slow reply cannot outlive its test.
    server.daemon_threads = False
    state.endpoint = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def settings(address: str, **changes: object) -> S3ObjectStoreSettings:
    fields: dict[str, object] = {
        "type": "s3",
        "endpoint": address,
        "access_key": "access",
        "secret_key": "secret-secret",
        "bucket": "crops",
        "secure": False,
    }
    return S3ObjectStoreSettings.model_validate(fields | changes)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("NoSuchKey", 404, ObjectNotFound),
        ("NoSuchBucket", 404, BucketNotFound),
        ("AccessDenied", 403, ObjectStoreAuthError),
        ("SignatureDoesNotMatch", 403, ObjectStoreAuthError),
        ("InvalidAccessKeyId", 403, ObjectStoreAuthError),
        ("SlowDown", 503, ObjectStoreUnavailable),
        ("InternalError", 500, ObjectStoreUnavailable),
        ("InvalidArgument", 400, ObjectStoreError),
    ],
)
def test_it_translates_s3_error_codes(
    stub: StubS3, code: str, status: int, error: type[ObjectStoreError]
) -> None:
    stub.reply = Reply(status, s3_error(code))
    store = S3ObjectStore(settings(stub.endpoint, max_retries=0))

    with pytest.raises(error, match=code if error is not ObjectNotFound else "no object") as caught:
        store.get("a/obj")

    assert type(caught.value) is error
    assert caught.value.permanent is (error is not ObjectStoreUnavailable)


def test_server_errors_are_retried_a_bounded_number_of_times(stub: StubS3) -> None:
    stub.reply = Reply(503, s3_error("SlowDown"))
    store = S3ObjectStore(settings(stub.endpoint, max_retries=2))

    with pytest.raises(ObjectStoreUnavailable, match="SlowDown"):
        store.put("a/obj", b"x")

    assert stub.requests == 3


def test_a_non_s3_error_page_counts_as_unavailable(stub: StubS3) -> None:
    stub.reply = Reply(502, b"<html>Bad Gateway</html>", content_type="text/html")
    store = S3ObjectStore(settings(stub.endpoint, max_retries=0))

    with pytest.raises(ObjectStoreUnavailable, match="non-S3 answer") as caught:
        store.get("a/obj")

    assert not caught.value.permanent


def test_a_hung_server_fails_after_the_read_timeout(stub: StubS3) -> None:
    stub.reply = Reply(200, b"late", delay_s=1.0)
    store = S3ObjectStore(settings(stub.endpoint, read_timeout_s=0.2, max_retries=0))

    started = time.monotonic()
    with pytest.raises(ObjectStoreUnavailable, match="unreachable"):
        store.get("a/obj")

    assert time.monotonic() - started < 0.9


def test_a_server_that_is_down_fails_fast_and_clearly() -> None:
    endpoint = f"127.0.0.1:{closed_port()}"
    store = S3ObjectStore(settings(endpoint))

    started = time.monotonic()
    with pytest.raises(ObjectStoreUnavailable, match=f"{endpoint} is unreachable") as caught:
        store.put("a/obj", b"x")

    assert time.monotonic() - started < 2.0
    assert not caught.value.permanent


def test_presigning_sends_no_request_and_signs_for_the_public_host() -> None:
    store = S3ObjectStore(
        settings(f"127.0.0.1:{closed_port()}", public_url="https://media.example.com"),
        clock=lambda: datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
    )

    url = store.presigned_get_url("crops/d/c/2026/11/21/x.jpg", timedelta(minutes=10))

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.scheme, parts.netloc) == ("https", "media.example.com")
    assert parts.path == "/crops/crops/d/c/2026/11/21/x.jpg"
    assert query["X-Amz-Date"] == ["20261121T120000Z"]
    assert query["X-Amz-Expires"] == ["600"]
    assert "secret-secret" not in url


def test_user_metadata_travels_only_as_amz_meta_headers(stub: StubS3) -> None:
    stub.reply = Reply(200, content_type="text/plain")
    store = S3ObjectStore(settings(stub.endpoint))

    store.put("a/obj", b"x", "image/jpeg", {"Cache-Control": "no-store"})

    (headers,) = stub.headers
    assert headers["x-amz-meta-cache-control"] == "no-store"
    assert "cache-control" not in headers
    assert headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize(
    ("field_name", "value", "message"),
    [
        ("endpoint", "http://127.0.0.1:9000", "no scheme"),
        ("endpoint", "s3.example.com/path", "no scheme"),
        ("bucket", "Crops", "3-63 characters"),
        ("bucket", "ab", "3-63 characters"),
        ("bucket", "a" * 64, "3-63 characters"),
        ("bucket", "my..bucket", "3-63 characters"),
        ("bucket", "192.168.1.1", "IP address"),
        ("public_url", "https://media.example.com/s3", "no path"),
        ("public_url", "media.example.com", "no path"),
        ("max_object_bytes", 0, "greater than 0"),
        ("surprise", 1, "Extra inputs are not permitted"),
    ],
)
def test_settings_reject_bad_values(field_name: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings("127.0.0.1:9000", **{field_name: value})


def test_settings_hide_the_secret_and_are_frozen() -> None:
    config = settings("s3.internal:9000")

    assert "secret-secret" not in repr(config)
    with pytest.raises(ValidationError, match="frozen"):
        config.bucket = "other"


def test_a_missing_sdk_raises_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    config = settings("127.0.0.1:9000")
    monkeypatch.setitem(sys.modules, "minio", None)

    with pytest.raises(BackendUnavailable, match="install the `cloud` extra"):
        S3ObjectStore(config)
