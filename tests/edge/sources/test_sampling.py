"""Frame sampling keeps the target rate for any source rate, evenly, and recovers after gaps."""

from __future__ import annotations

import pytest

from edge.sources.sampling import FrameSampler


def kept(fps: float | None, timestamps: list[float]) -> list[float]:
    sampler = FrameSampler(fps)
    return [t for t in timestamps if sampler.keep(t)]


def test_none_keeps_every_frame() -> None:
    stamps = [i / 25 for i in range(10)]
    assert kept(None, stamps) == stamps


@pytest.mark.parametrize(("source_fps", "target_fps"), [(25, 5), (10, 5), (10, 4), (30, 7)])
def test_the_kept_rate_matches_the_target(source_fps: int, target_fps: float) -> None:
    seconds = 20
    stamps = [i / source_fps for i in range(source_fps * seconds)]
    assert len(kept(target_fps, stamps)) == pytest.approx(target_fps * seconds, abs=1)


def test_ten_fps_to_four_keeps_frames_on_a_quarter_second_grid() -> None:
    stamps = [round(i * 0.1, 10) for i in range(11)]
    assert kept(4, stamps) == [0.0, 0.3, 0.5, 0.8, 1.0]


def test_a_target_above_the_source_rate_keeps_every_frame() -> None:
    stamps = [i / 5 for i in range(20)]
    assert kept(30, stamps) == stamps


def test_after_a_gap_the_grid_restarts_instead_of_bursting() -> None:
    # 10 fps, then nothing for 3 s (a reconnect), then 10 fps again; target 2 fps.
    stamps = [i / 10 for i in range(10)] + [4.0 + i / 10 for i in range(10)]
    assert kept(2, stamps) == [0.0, 0.5, 4.0, 4.5]
