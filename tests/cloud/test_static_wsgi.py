"""`cloud.static_wsgi`: gunicorn's entry point in the cloud image serves the collected files."""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings


def call(app: Callable[..., Any], path: str) -> tuple[str, bytes]:
    answer: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: object) -> None:
        answer["status"] = status

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
    }
    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # PEP 3333: the server closes the iterable (WhiteNoise's open file)
    return answer["status"], body


@pytest.fixture
def static_root(tmp_path: Path) -> Path:
    (tmp_path / "cloud").mkdir()
    (tmp_path / "cloud" / "app.css").write_text("body { margin: 0 }", encoding="utf-8")
    return tmp_path


# Django's request_started handler checks the database connection that earlier tests in the same
# process opened, so the test needs database access even though the health probe reads none.
@pytest.mark.django_db
def test_static_files_and_django_from_one_process(static_root: Path) -> None:
    sys.modules.pop("cloud.static_wsgi", None)
    with override_settings(STATIC_ROOT=str(static_root)):
        module = importlib.import_module("cloud.static_wsgi")
    try:
        assert call(module.application, "/static/cloud/app.css") == (
            "200 OK",
            b"body { margin: 0 }",
        )
        status, _ = call(module.application, "/static/cloud/missing.css")
        assert status.startswith("404")
        # Everything else goes to Django (the health probe needs no database).
        assert call(module.application, "/healthz") == ("200 OK", b'{"status": "ok"}')
    finally:
        sys.modules.pop("cloud.static_wsgi", None)
