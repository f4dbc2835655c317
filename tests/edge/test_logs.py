"""Logging: credentials never reach a line, JSON lines carry the ids, reconfiguring replaces."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from edge.logs import MAX_ERROR_TEXT, ErrorTally, configure_logging, format_from_env, redact


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A stream to log to; the root logger's handlers and level are restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield io.StringIO()
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/s1", "rtsp://***@10.0.0.5:554/s1"),
        ("rtsp://u:p@cam/a, http://x:y@h:8080/b", "rtsp://***@cam/a, http://***@h:8080/b"),
        ("rtsps://admin:p@ss@cam/x", "rtsps://***@cam/x"),  # an unencoded @ in the password
        ("rtsp://cam.local/stream1", "rtsp://cam.local/stream1"),
        ("mqtt://device@broker", "mqtt://***@broker"),
        ("no url here: user@example.com", "no url here: user@example.com"),
    ],
)
def test_redact_removes_the_userinfo_of_urls(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_text_lines_are_scrubbed_and_show_the_ids(stream: io.StringIO) -> None:
    configure_logging("INFO", "text", stream)
    logging.getLogger("edge.test").warning(
        "cannot reach %s", "rtsp://admin:hunter2@cam/1", extra={"camera_id": "lobby"}
    )
    line = stream.getvalue()
    assert "hunter2" not in line
    assert "WARNING" in line
    assert "cannot reach rtsp://***@cam/1 camera_id=lobby" in line


def test_json_lines_carry_ids_as_keys_and_scrub_tracebacks(stream: io.StringIO) -> None:
    configure_logging("INFO", "json", stream)
    try:
        raise ValueError("rtsp://admin:hunter2@cam/1 refused")
    except ValueError:
        logging.getLogger("edge.test").exception("failed", extra={"camera_id": "lobby"})
    record = json.loads(stream.getvalue())
    assert record["level"] == "ERROR"
    assert record["logger"] == "edge.test"
    assert record["camera_id"] == "lobby"
    assert record["message"] == "failed"
    assert "rtsp://***@cam/1 refused" in record["exc_info"]
    assert "hunter2" not in stream.getvalue()
    assert record["time"].endswith("+00:00")


def test_reconfiguring_replaces_the_handler_and_sets_the_level(stream: io.StringIO) -> None:
    configure_logging("INFO", "text", stream)
    configure_logging("WARNING", "json", stream)
    logging.getLogger("edge.test").info("hidden")
    logging.getLogger("edge.test").warning("shown")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["message"] == "shown"


def test_the_format_comes_from_the_environment() -> None:
    assert format_from_env({"SIGHTLINE_EDGE_LOG_FORMAT": "JSON"}) == "json"
    assert format_from_env({"SIGHTLINE_EDGE_LOG_FORMAT": "yaml"}) == "text"
    assert format_from_env({}) == "text"


def test_the_error_tally_counts_errors_and_keeps_the_last_one_redacted_and_short() -> None:
    tally = ErrorTally()
    logger = logging.getLogger("tests.edge.tally")
    logger.addHandler(tally)
    try:
        logger.warning("a warning is not an error")
        logger.error("camera %s failed", "lobby")
        logger.critical("rtsp://admin:secret@10.0.0.5/stream %s", "x" * 2000)
    finally:
        logger.removeHandler(tally)
    count, last = tally.snapshot()
    assert count == 2
    assert last.startswith("rtsp://***@10.0.0.5/stream xxx")
    assert "secret" not in last
    assert len(last) == MAX_ERROR_TEXT
