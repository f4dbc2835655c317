"""Real-time pacing of recorded video: deliver each frame when a camera would have delivered it.

A file is read as fast as it decodes unless its source is `realtime`; then frame `t` (its stream
timestamp, seconds) is held back until `t - t0` seconds after the first frame `t0` was delivered,
so capture times (`started_at + timestamp`) are real wall-clock times and latency measured from
them means what it would on a camera. A frame that decodes late is delivered at once: like a
camera's buffer, the source falls behind rather than skipping.
"""

from __future__ import annotations

import threading
import time


class Pacer:
    """Holds frames back to the video's own rate; not thread-safe (one camera thread)."""

    def __init__(self, first_timestamp: float) -> None:
        """Anchor the clock now: the frame at `first_timestamp` is due at once."""
        self._origin = time.monotonic() - first_timestamp

    def wait(self, timestamp: float, stop: threading.Event) -> bool:
        """Wait until the frame at `timestamp` is due; False when `stop` was set meanwhile."""
        delay = self._origin + timestamp - time.monotonic()
        if delay <= 0:
            return not stop.is_set()
        return not stop.wait(delay)
