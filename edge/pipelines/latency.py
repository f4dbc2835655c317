"""Detector call times of one camera, kept until the heartbeat takes them.

The pipeline adds one time per frame on the camera's thread; the heartbeat takes everything
added since its previous sample on the MQTT link's thread (`LatencyWindow.take`), so each
heartbeat's percentiles cover its own interval. Bounded: at 30 fps a 60 s heartbeat interval is
1,800 frames, well under the bound; past it the oldest times go, which leaves a percentile of
the interval's latest frames.

It also keeps a cumulative histogram of every call since the camera started
(`LatencyWindow.histogram`), which `/metrics` reads at scrape time without taking anything from
the heartbeat's window.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass

MAX_TIMES = 4096
"""Times kept between two samples."""

BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Upper bounds (seconds) of the histogram's buckets, +Inf implied: from a small GPU model's few
milliseconds to a CPU model falling badly behind."""


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Detector calls since the camera started: counts per bucket (not cumulative, the last one
    for calls over every bound), and the sum of their times in seconds."""

    bounds_s: tuple[float, ...]
    counts: tuple[int, ...]
    sum_s: float


class LatencyWindow:
    """Detector call times in milliseconds since the last `take`. Thread-safe."""

    def __init__(self, max_times: int = MAX_TIMES) -> None:
        self._times: deque[float] = deque(maxlen=max_times)
        self._counts = [0] * (len(BUCKETS_S) + 1)
        self._sum_s = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        """Record one detector call that took `seconds`."""
        with self._lock:
            self._times.append(seconds * 1000.0)
            # bisect_left: a call of exactly a bound belongs to that bound's bucket (le).
            self._counts[bisect.bisect_left(BUCKETS_S, seconds)] += 1
            self._sum_s += seconds

    def take(self) -> tuple[float, ...]:
        """The times recorded since the previous `take` (oldest first), in milliseconds."""
        with self._lock:
            times = tuple(self._times)
            self._times.clear()
        return times

    def histogram(self) -> LatencyHistogram:
        """Every call since this window was made, by bucket."""
        with self._lock:
            return LatencyHistogram(BUCKETS_S, tuple(self._counts), self._sum_s)
