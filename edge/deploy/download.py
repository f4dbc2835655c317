"""Download a model through its expiring URL: bounded in size and time, retried with backoff.

The URL is presigned by the cloud's object store and is the whole credential, so it is never
logged (only its host). A response larger than the desired size is cut off there (a device does
not fill its disk because a server misbehaves); each attempt has a socket timeout; failures that
may pass (connection refused or reset, a timeout, HTTP 5xx or 429) are retried up to `attempts`
times with the system's backoff (`sightline.backoff`); an HTTP 4xx (the URL expired, or the
object is gone) is final for this URL: the cloud publishes a fresh one.
"""

from __future__ import annotations

import http.client
import logging
import threading
import urllib.error
import urllib.request
from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from edge.errors import DeployRefused
from sightline.backoff import Backoff, BackoffSettings

logger = logging.getLogger(__name__)

_CHUNK: Final = 1 << 20


class DownloadSettings(BaseModel):
    """How models are downloaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bytes: int = Field(
        default=512 * 1024 * 1024, gt=0, description="Largest model accepted, in bytes."
    )
    timeout_s: float = Field(
        default=30.0, gt=0, description="Socket timeout of each connect and read."
    )
    attempts: int = Field(default=5, ge=1, description="Tries per download before giving up.")
    backoff: BackoffSettings = Field(
        default=BackoffSettings(initial_s=1.0, max_s=30.0),
        description="Waits between tries (jittered, capped).",
    )


def download(url: str, size: int, settings: DownloadSettings, stop: threading.Event) -> bytes:
    """The `size` bytes at `url`; DeployRefused with the reason when they cannot be had."""
    if size > settings.max_bytes:
        raise DeployRefused(f"model of {size} bytes exceeds download.max_bytes")
    if urlsplit(url).scheme not in ("http", "https"):
        raise DeployRefused("the model URL is not http(s)")
    host = urlsplit(url).netloc
    backoff = Backoff(settings.backoff)
    for attempt in range(1, settings.attempts + 1):
        try:
            return _fetch(url, size, settings.timeout_s)
        except urllib.error.HTTPError as err:
            if 400 <= err.code < 500 and err.code != 429:
                raise DeployRefused(
                    f"download from {host} refused: HTTP {err.code} (the URL may have expired)"
                ) from err
            problem = f"HTTP {err.code}"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            problem = str(getattr(err, "reason", err))
        if attempt == settings.attempts:
            break
        delay = backoff.next_delay()
        logger.warning(
            "model download from %s failed (%s), attempt %d of %d; retrying in %.1fs",
            host, problem, attempt, settings.attempts, delay,
        )  # fmt: skip
        if stop.wait(delay):
            raise DeployRefused("stopped during the model download")
    raise DeployRefused(f"download from {host} failed {settings.attempts} times: {problem}")


def _fetch(url: str, size: int, timeout_s: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        parts: list[bytes] = []
        received = 0
        while received <= size:
            chunk = response.read(min(_CHUNK, size + 1 - received))
            if not chunk:
                break
            parts.append(chunk)
            received += len(chunk)
    data = b"".join(parts)
    if len(data) > size:
        raise DeployRefused(f"the server sent more than the desired {size} bytes; refused")
    return data
