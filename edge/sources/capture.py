"""`CaptureSource`: files, RTSP/HTTP streams and USB cameras through OpenCV's `VideoCapture`.

Files are read as fast as they decode, or at their own frame rate when `realtime` is set
(`pacing.Pacer`), and end at their last frame. A file can resume after a given frame (a restarted
agent, `edge.journal`): it seeks with CAP_PROP_POS_FRAMES, which gave exactly the frames of an
uninterrupted read on vtest.avi (MPEG-4 part 2) and the MJPG test clips, as did grabbing past the
skipped frames, 2-13x slower; frame indices, timestamps and the frames sampling keeps are those
of an uninterrupted read. A file that cannot be opened,
holds no decodable frame, or ends well before the frame count in its header (truncated or
corrupt) raises `SourceError`.

Live sources (streams, USB) reconnect when they cannot be opened or stop delivering frames,
waiting as `reconnect` says (the system's one backoff policy, `sightline.backoff`: doubling, with
jitter so that a site's cameras do not hammer a recovering recorder in lockstep). After
`reconnect_attempts` failures in a row (when set; by default it retries forever) the source
raises `SourceError`; one delivered frame resets the count. Waits end early when the stop event
is set, so shutdown is never held up by a backoff.

This loop is the camera's watchdog: a stream that goes silent for `read_timeout_s` (FFmpeg's
interrupt ends the blocked read) or closes is released and reopened, only that camera's, on that
camera's thread. A disconnect is reported before the capture is released, because releasing an
RTSP capture says goodbye to the server, which a hung server answers only after timeouts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge.errors import SourceError
from edge.logs import redact
from edge.sources.base import Frame, Frames, Image, SourceKind, SourceSettings, SourceStatus
from edge.sources.ffmpeg_options import FfmpegOptions
from edge.sources.pacing import Pacer
from edge.sources.sampling import FrameSampler
from sightline.backoff import Backoff

logger = logging.getLogger(__name__)

_FFMPEG_OPTIONS = FfmpegOptions()

# The container's frame count is exact for indexed formats (AVI, MP4) but an estimate from
# duration x rate for some others, so a small shortfall at the end is not called truncation.
_TRUNCATION_TOLERANCE = 0.02
_TRUNCATION_MIN_FRAMES = 2


class Capture(Protocol):
    """The part of `cv2.VideoCapture` a source uses (tests substitute failing captures)."""

    def isOpened(self) -> bool: ...

    def grab(self) -> bool: ...

    def retrieve(
        self, image: cv2.typing.MatLike | None = None, flag: int = 0
    ) -> tuple[bool, cv2.typing.MatLike]: ...

    def get(self, prop_id: int) -> float: ...

    def set(self, prop_id: int, value: float) -> bool: ...

    def release(self) -> None: ...


Opener = Callable[[], Capture]
StatusCallback = Callable[[SourceStatus, str], None]


def open_capture(settings: SourceSettings) -> Capture:
    """Open `settings.url` with the OpenCV backend that suits its kind (FFmpeg or V4L2/default)."""
    kind = settings.kind
    if kind is SourceKind.USB:
        return cv2.VideoCapture(settings.usb_index)
    if kind is SourceKind.FILE:
        # FFmpeg explicitly: with CAP_ANY a file name like "cam%02d.jpg" would be read as an
        # image sequence by another backend.
        return cv2.VideoCapture(settings.url, cv2.CAP_FFMPEG)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        round(settings.open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        round(settings.read_timeout_s * 1000),
    ]
    with _FFMPEG_OPTIONS.applied(f"rtsp_transport;{settings.transport}"):
        return cv2.VideoCapture(settings.url, cv2.CAP_FFMPEG, params)


class CaptureSource:
    """A `VideoSource` over `cv2.VideoCapture`; see the module docstring for its behaviour."""

    def __init__(
        self,
        settings: SourceSettings,
        *,
        camera_id: str,
        opener: Opener | None = None,
        on_status: StatusCallback | None = None,
        resume_after: int | None = None,
    ) -> None:
        """`opener` makes a fresh capture for every (re)connection; `on_status` hears about
        connects and disconnects of live sources (called on the camera's thread);
        `resume_after` (files only) is the index of a frame processed before, and reading
        starts at the next one."""
        self._settings = settings
        self._start = 0 if resume_after is None else resume_after + 1
        self._camera_id = camera_id
        self._opener = opener or (lambda: open_capture(settings))
        self._on_status = on_status
        self._where = redact(settings.url)
        self._started_at = datetime.now(UTC)
        self._buffer: Image | None = None
        self._log_extra = {"camera_id": camera_id}

    @property
    def started_at(self) -> datetime:
        """UTC wall-clock time of timestamp 0."""
        return self._started_at

    def frames(self, stop: threading.Event) -> Frames:
        """Yield sampled frames until the file ends or `stop` is set (see `VideoSource`)."""
        sampler = FrameSampler(self._settings.fps)
        if self._settings.kind is SourceKind.FILE:
            return self._file_frames(stop, sampler)
        return self._live_frames(stop, sampler)

    def _retrieve(self, capture: Capture) -> Image | None:
        # Decoding into the previous frame's buffer saves an allocation per frame.
        ok, image = capture.retrieve(self._buffer)
        if not ok:
            return None
        self._buffer = np.asarray(image, dtype=np.uint8)
        return self._buffer

    def _file_frames(self, stop: threading.Event, sampler: FrameSampler) -> Frames:
        path = Path(self._settings.url)
        if not path.is_file():
            raise SourceError(f"camera {self._camera_id}: video file {self._where} does not exist")
        capture = self._opener()
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"camera {self._camera_id}: cannot open video file {self._where}: it is "
                "unreadable, corrupt or not a video format FFmpeg can decode"
            )
        fps = capture.get(cv2.CAP_PROP_FPS)
        expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        index = self._start
        if index:
            self._seek(capture, index, fps, sampler)
        # Timestamp 0 is when the first frame read now would have been captured, so that
        # capture times are wall-clock times from here on (resumed or not).
        first_timestamp = index / fps if fps > 0 else 0.0
        self._started_at = datetime.now(UTC) - timedelta(seconds=first_timestamp)
        pacer = Pacer(first_timestamp) if self._settings.realtime else None
        logger.info(
            "camera %s: opened %s (%d frames at %.3g fps), reading from frame %d",
            self._camera_id, self._where, expected, fps, index,
            extra={**self._log_extra, "event": "camera.connected"},
        )  # fmt: skip
        try:
            while not stop.is_set() and capture.grab():
                # index / fps rather than CAP_PROP_POS_MSEC, which some containers report as 0.
                timestamp = index / fps if fps > 0 else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000
                if sampler.keep(timestamp):
                    image = self._retrieve(capture)
                    if image is None:
                        raise SourceError(
                            f"camera {self._camera_id}: {self._where}: frame {index} cannot be "
                            "decoded; the file is corrupt"
                        )
                    if pacer is not None and not pacer.wait(timestamp, stop):
                        break
                    yield Frame(image, index, timestamp)
                index += 1
        finally:
            capture.release()
        if stop.is_set():
            return
        self._check_complete(index, expected)
        logger.info(
            "camera %s: end of %s after %d frames", self._camera_id, self._where, index,
            extra=self._log_extra,
        )  # fmt: skip

    def _seek(self, capture: Capture, start: int, fps: float, sampler: FrameSampler) -> None:
        """Position `capture` at frame `start`, with `sampler` in the state an uninterrupted
        read leaves it in there."""
        if not capture.set(cv2.CAP_PROP_POS_FRAMES, start):
            for _ in range(start):
                if not capture.grab():
                    break
        if fps > 0:
            # Timestamps are index / fps: replaying them is exact and costs no decoding.
            for skipped in range(start):
                sampler.keep(skipped / fps)

    def _check_complete(self, decoded: int, expected: int) -> None:
        if decoded == 0:
            raise SourceError(
                f"camera {self._camera_id}: {self._where} holds no decodable frame; the file is "
                "corrupt or empty"
            )
        shortfall = expected - decoded
        if shortfall > max(_TRUNCATION_MIN_FRAMES, expected * _TRUNCATION_TOLERANCE):
            raise SourceError(
                f"camera {self._camera_id}: {self._where} ended after {decoded} of the "
                f"{expected} frames its header announces; the file is truncated or corrupt"
            )

    def _live_frames(self, stop: threading.Event, sampler: FrameSampler) -> Frames:
        capture: Capture | None = None
        backoff = Backoff(self._settings.reconnect)
        index = 0
        self._started_at = datetime.now(UTC)
        start = time.monotonic()
        try:
            while not stop.is_set():
                if capture is None:
                    capture = self._opener()
                    if not capture.isOpened():
                        capture.release()
                        capture = None
                        self._back_off(stop, backoff, "cannot connect")
                        continue
                    logger.info(
                        "camera %s: connected to %s", self._camera_id, self._where,
                        extra={**self._log_extra, "event": "camera.connected"},
                    )  # fmt: skip
                    self._report(SourceStatus.CONNECTED, f"connected to {self._where}")
                if not capture.grab():
                    logger.warning(
                        "camera %s: %s stopped delivering frames", self._camera_id, self._where,
                        extra={**self._log_extra, "event": "camera.disconnected"},
                    )  # fmt: skip
                    self._report(SourceStatus.DISCONNECTED, f"{self._where} stopped delivering")
                    # Reported first: see the module docstring.
                    capture.release()
                    capture = None
                    self._back_off(stop, backoff, "no frames")
                    continue
                backoff.reset()
                timestamp = time.monotonic() - start
                if sampler.keep(timestamp):
                    image = self._retrieve(capture)
                    if image is not None:
                        yield Frame(image, index, timestamp)
                index += 1
        finally:
            if capture is not None:
                capture.release()

    def _back_off(self, stop: threading.Event, backoff: Backoff, reason: str) -> None:
        """Count one failure and wait before the next attempt, or raise SourceError when the
        budget of failures in a row is spent."""
        delay = backoff.next_delay()
        failures = backoff.failures
        budget = self._settings.reconnect_attempts
        if budget is not None and failures > budget:
            raise SourceError(
                f"camera {self._camera_id}: {self._where} is unreachable ({reason}) after "
                f"{failures} attempts in a row; check the camera, the network and the URL"
            )
        logger.info(
            "camera %s: %s (attempt %d); retrying in %.1fs", self._camera_id, reason, failures,
            delay, extra={**self._log_extra, "event": "camera.reconnecting"},
        )  # fmt: skip
        stop.wait(delay)

    def _report(self, status: SourceStatus, detail: str) -> None:
        if self._on_status is not None:
            self._on_status(status, detail)
