"""Detector call times of one camera, kept until the heartbeat takes them.

The pipeline adds one time per frame on the camera's thread; the heartbeat takes everything
added since its previous sample on the MQTT link's thread (`LatencyWindow.take`), so each
heartbeat's percentiles cover its own interval. Bounded: at 30 fps a 60 s heartbeat interval is
1,800 frames, well under the bound; past it the oldest times go, which leaves a percentile of
the interval's latest frames.
"""

from __future__ import annotations

import threading
from collections import deque

MAX_TIMES = 4096
"""Times kept between two samples."""


class LatencyWindow:
    """Detector call times in milliseconds since the last `take`. Thread-safe."""

    def __init__(self, max_times: int = MAX_TIMES) -> None:
        self._times: deque[float] = deque(maxlen=max_times)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        """Record one detector call that took `seconds`."""
        with self._lock:
            self._times.append(seconds * 1000.0)

    def take(self) -> tuple[float, ...]:
        """The times recorded since the previous `take` (oldest first), in milliseconds."""
        with self._lock:
            times = tuple(self._times)
            self._times.clear()
        return times
