"""`TrackPath`: where a tracked object went, in a bounded number of points however long it lasts.

The ledger adds the centre of the track's box on every matched frame. Memory and the summary's
size must not grow with the track's length (a person may loiter for an hour at 25 fps), so the
path keeps every `stride`-th point and, whenever it holds twice its budget, drops every other
point and doubles the stride: the points stay evenly spread in frames over the whole track, at
most `2 * max_points` are held, and the latest point is always known. `points()` hands out at
most `max_points`, always the first and the latest.
"""

from __future__ import annotations

from datetime import datetime

from edge.records import PathPoint


class TrackPath:
    """The sampled path of ONE track; not thread-safe (like its ledger)."""

    def __init__(self, max_points: int) -> None:
        """`max_points`: the most points `points()` returns (at least 2)."""
        if max_points < 2:
            raise ValueError(f"a path needs at least 2 points, got {max_points}")
        self._max = max_points
        self._kept: list[PathPoint] = []
        self._stride = 1
        self._seen = 0
        self._latest: PathPoint | None = None

    def add(self, time: datetime, x: float, y: float) -> None:
        """Add the box centre of one matched frame, normalised to [0, 1] (clipped there)."""
        point = PathPoint(time, min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0))
        self._latest = point
        if self._seen % self._stride == 0:
            self._kept.append(point)
            if len(self._kept) > 2 * self._max:
                # Keep the even positions: each kept point's frame count stays a multiple of
                # the doubled stride, so sampling goes on evenly.
                self._kept = self._kept[::2]
                self._stride *= 2
        self._seen += 1

    def points(self) -> tuple[PathPoint, ...]:
        """At most `max_points` points, oldest first, evenly spread, the first and the latest
        always among them; empty before the first `add`."""
        if self._latest is None:
            return ()
        kept = self._kept if self._kept[-1] is self._latest else [*self._kept, self._latest]
        if len(kept) <= self._max:
            return tuple(kept)
        last = len(kept) - 1
        picks = sorted({round(i * last / (self._max - 1)) for i in range(self._max)})
        return tuple(kept[i] for i in picks)
