"""FFmpeg demuxer options for one capture at a time, through OpenCV's only way in.

OpenCV reads FFmpeg options ("key;value|key;value") from the environment variable
OPENCV_FFMPEG_CAPTURE_OPTIONS when a capture opens: one value per process, while each camera
wants its own (RTSP over TCP or UDP). `FfmpegOptions.applied` sets the variable for the opens
inside it. Opens that want the same options share it and run side by side, so a dozen TCP
cameras reconnecting never wait on each other (an open can take `open_timeout_s`); an open that
wants other options waits until those are done, and once it waits, newcomers with the current
options wait behind it, so it is not starved. An operator's own options in the variable are kept;
ours come after them and win where both set a key.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Iterator

VARIABLE = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


class FfmpegOptions:
    """The process's FFmpeg capture options, shared by the opens that agree on them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._current: str | None = None
        self._users = 0
        self._waiting: Counter[str] = Counter()
        self._operators = os.environ.get(VARIABLE)

    def _may_enter(self, options: str) -> bool:
        if self._current is None:
            return True
        if self._current != options:
            return False
        others_waiting = sum(self._waiting.values()) - self._waiting[options]
        # Options just handed over (no user yet) are for the waiters of those options.
        return self._users == 0 or others_waiting == 0

    def _apply(self, options: str | None) -> None:
        self._current = options
        if options is None:
            if self._operators is None:
                os.environ.pop(VARIABLE, None)
            else:
                os.environ[VARIABLE] = self._operators
        else:
            os.environ[VARIABLE] = f"{self._operators}|{options}" if self._operators else options

    @contextlib.contextmanager
    def applied(self, options: str) -> Iterator[None]:
        """`options` are in force for captures opened inside."""
        with self._changed:
            self._waiting[options] += 1
            self._changed.wait_for(lambda: self._may_enter(options))
            self._waiting[options] -= 1
            if self._current is None:
                self._apply(options)
            self._users += 1
        try:
            yield
        finally:
            with self._changed:
                self._users -= 1
                if self._users == 0:
                    # Hand over to opens that wait for other options, if any, so that they
                    # go next rather than racing newcomers with these.
                    waiting = [o for o, n in self._waiting.items() if n > 0 and o != options]
                    self._apply(waiting[0] if waiting else None)
                    self._changed.notify_all()
