"""TrackPath: a bounded, evenly spread sample of a track's box centres, first and latest kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from edge.pipelines.path import TrackPath

START = datetime(2026, 1, 1, tzinfo=UTC)


def walked(frames: int, max_points: int) -> TrackPath:
    """A path along the diagonal, one point per frame at 25 fps."""
    path = TrackPath(max_points)
    for i in range(frames):
        path.add(START + timedelta(seconds=i / 25), i / frames, i / frames)
    return path


def test_a_short_track_keeps_every_point() -> None:
    points = walked(5, 8).points()
    assert [p.x for p in points] == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert [p.time for p in points] == [START + timedelta(seconds=i / 25) for i in range(5)]


@pytest.mark.parametrize("frames", [9, 64, 65, 1000, 90_001])
def test_a_long_track_is_bounded_and_keeps_first_and_latest(frames: int) -> None:
    path = walked(frames, 16)
    points = path.points()
    assert len(points) == min(frames, 16)
    assert points[0].x == 0.0
    assert points[-1].x == (frames - 1) / frames
    times = [p.time for p in points]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert len(path._kept) <= 32  # memory stays bounded too
    # Evenly spread: no gap between kept points is more than ~3x the even spacing.
    gaps = [b.x - a.x for a, b in pairwise(points)]
    assert max(gaps) <= 3 * (points[-1].x / (len(points) - 1))


def test_points_are_clipped_to_the_frame_and_an_empty_path_has_none() -> None:
    path = TrackPath(4)
    assert path.points() == ()
    path.add(START, -0.1, 1.2)
    (point,) = path.points()
    assert (point.x, point.y) == (0.0, 1.0)
    with pytest.raises(ValueError):
        TrackPath(1)
