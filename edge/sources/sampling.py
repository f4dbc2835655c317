"""Frame sampling: thin a stream to a target rate using frame timestamps, not frame counts.

Timestamps rather than counts, so that the kept rate is right for any source rate (25 fps to 5
keeps every fifth frame, 10 fps to 4 keeps 0.0, 0.3, 0.5, 0.8 s, ...) and for live streams whose
frames arrive unevenly. Kept frames sit on a grid of 1/fps from the first one; after a gap longer
than one period (a stall or a reconnect) the grid restarts at the next frame, instead of keeping a
burst of frames to catch up.
"""

from __future__ import annotations

# Timestamps computed as index / fps carry float error (0.30000000000000004); a frame this close
# to its due time counts as due.
_TOLERANCE_S = 1e-6


class FrameSampler:
    """Decides frame by frame whether a frame is kept; not thread-safe."""

    def __init__(self, fps: float | None) -> None:
        """`fps=None` keeps every frame."""
        self._period = 1.0 / fps if fps else 0.0
        self._due: float | None = None

    def keep(self, timestamp: float) -> bool:
        """Whether the frame at `timestamp` (seconds, non-decreasing) is kept."""
        if self._period == 0.0:
            return True
        if self._due is not None and timestamp < self._due - _TOLERANCE_S:
            return False
        if self._due is None or timestamp - self._due >= self._period:
            self._due = timestamp + self._period
        else:
            self._due += self._period
        return True
