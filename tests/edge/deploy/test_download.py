"""edge.deploy.download: bounded in size, retried on what may pass, final on a 4xx."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from edge.deploy.download import DownloadSettings, download
from edge.errors import DeployRefused
from sightline.backoff import BackoffSettings

BODY = b"model bytes " * 1000
SETTINGS = DownloadSettings(
    timeout_s=5, attempts=3, backoff=BackoffSettings(initial_s=0.01, max_s=0.01)
)


@pytest.fixture
def server() -> Iterator[tuple[list[int], str]]:
    """Answers each GET with the next status of the list (200 once it is empty), then BODY."""
    statuses: list[int] = []
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = statuses.pop(0) if statuses else 200
            hits.append(status)
            self.send_response(status)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield statuses, f"http://127.0.0.1:{httpd.server_port}/m?sig=x"
    httpd.shutdown()
    httpd.server_close()


def test_a_failure_that_may_pass_is_retried(server: tuple[list[int], str]) -> None:
    statuses, url = server
    statuses.extend([503, 500])
    assert download(url, len(BODY), SETTINGS, threading.Event()) == BODY
    assert statuses == []


def test_it_gives_up_after_its_attempts(server: tuple[list[int], str]) -> None:
    statuses, url = server
    statuses.extend([503] * 5)
    with pytest.raises(DeployRefused, match="failed 3 times: HTTP 503"):
        download(url, len(BODY), SETTINGS, threading.Event())
    assert len(statuses) == 2  # three of the five were asked for


def test_a_server_sending_more_than_the_desired_size_is_cut_off(
    server: tuple[list[int], str],
) -> None:
    _, url = server
    with pytest.raises(DeployRefused, match="more than the desired"):
        download(url, len(BODY) - 1, SETTINGS, threading.Event())


@pytest.mark.parametrize(
    ("url", "size", "problem"),
    [
        ("file:///etc/passwd", 10, "not http"),
        ("http://127.0.0.1:9/m", 10**12, "exceeds download.max_bytes"),
    ],
)
def test_it_refuses_before_any_request(url: str, size: int, problem: str) -> None:
    with pytest.raises(DeployRefused, match=problem):
        download(url, size, SETTINGS, threading.Event())


def test_a_stop_ends_the_wait_between_attempts(server: tuple[list[int], str]) -> None:
    statuses, url = server
    statuses.extend([503] * 5)
    stop = threading.Event()
    stop.set()
    slow = SETTINGS.model_copy(update={"backoff": BackoffSettings(initial_s=60, max_s=60)})
    with pytest.raises(DeployRefused, match="stopped"):
        download(url, len(BODY), slow, stop)
