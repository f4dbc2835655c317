"""Logging for the edge agent, configured here and nowhere else.

Plain text for people (`text`, the default) or one JSON object per line for log collectors
(`json`: set `log_format: json` in the config or `SIGHTLINE_EDGE_LOG_FORMAT=json`). JSON lines carry
the `extra` identifiers (`camera_id`, `track_id`, `track_number`, `device_id`) as keys; text lines
append them as `key=value`. Every line, exception text included, passes through `redact`, so a
camera URL with `user:password@` in it never reaches a log (as Frigate does for its ffmpeg
commands).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from typing import Literal, TextIO, get_args

from pythonjsonlogger.json import JsonFormatter

LOG_FORMAT_ENV = "SIGHTLINE_EDGE_LOG_FORMAT"
LogFormat = Literal["text", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# The userinfo of any URL: everything between "scheme://" and the last "@" before the first "/"
# or whitespace. Greedy on purpose: an unencoded "@" inside a password must not leak its tail.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^\s/]*@")
_CONTEXT_KEYS = ("device_id", "camera_id", "track_id", "track_number")


def redact(text: str) -> str:
    """`text` with the user:password part of every URL replaced by `***`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


class _TextFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        context = "".join(
            f" {key}={getattr(record, key)}" for key in _CONTEXT_KEYS if hasattr(record, key)
        )
        return super().formatMessage(record) + context

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _JsonFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _EdgeHandler(logging.StreamHandler[TextIO]):
    """The agent's own handler, so reconfiguring replaces it and leaves others alone."""


MAX_ERROR_TEXT = 1024
"""Characters of the last error the heartbeat reports (`ErrorTally`)."""


class ErrorTally(logging.Handler):
    """Counts the log records at ERROR or above and keeps the last one's message, redacted and
    cut to `MAX_ERROR_TEXT` characters: the heartbeat's `errors_total` and `last_error`.

    Every failure the agent does not recover from by itself is logged at ERROR (a camera that
    failed, a lane stopped for good, a bug caught at a thread boundary), so counting the records
    counts the failures without each place reporting them twice. Thread-safe.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._tally_lock = threading.Lock()
        self._count = 0
        self._last = ""

    def emit(self, record: logging.LogRecord) -> None:
        """Count `record` and keep its message."""
        try:
            text = record.getMessage()
        except (TypeError, ValueError):  # a call whose %-args do not fit its message
            text = str(record.msg)
        text = redact(text)[:MAX_ERROR_TEXT]
        with self._tally_lock:
            self._count += 1
            self._last = text

    def snapshot(self) -> tuple[int, str]:
        """(errors counted so far, the last one's message or "")."""
        with self._tally_lock:
            return self._count, self._last


def format_from_env(environ: Mapping[str, str] | None = None) -> LogFormat:
    """The format `SIGHTLINE_EDGE_LOG_FORMAT` asks for; `text` when unset or not a format.

    Used before the config is loaded, so that config errors already come out in that format.
    """
    value = (os.environ if environ is None else environ).get(LOG_FORMAT_ENV, "text").lower()
    return "json" if value == "json" else "text"


def configure_logging(
    level: LogLevel = "INFO", log_format: LogFormat = "text", stream: TextIO | None = None
) -> None:
    """Send the agent's logs to `stream` (stderr by default) at `level`, in `log_format`.

    Calling it again replaces the previous configuration (the CLI configures once from the
    environment, then again from the loaded config).
    """
    if log_format not in get_args(LogFormat):
        raise ValueError(f"unknown log format {log_format!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _EdgeHandler)]:
        root.removeHandler(handler)
        handler.close()
    handler = _EdgeHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            _JsonFormatter(
                "%(levelname)s %(name)s %(threadName)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",  # ISO 8601 in UTC, which log collectors parse as is
            )
        )
    else:
        handler.setFormatter(
            _TextFormatter("%(asctime)s %(levelname)-7s [%(threadName)s] %(name)s: %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level)
