"""FakeSource: deterministic synthetic frames behind the VideoSource protocol."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from edge.errors import SourceError
from edge.geometry import Box, FrameSize
from edge.sources.base import VideoSource
from edge.sources.fake import FakeSource, Sprite

WALKER = Sprite(Box(10, 20, 30, 60), velocity=(5, 1), color=(0, 0, 250), last_frame=3)


def snapshots(source: VideoSource, stop: threading.Event | None = None) -> list[np.ndarray]:
    return [frame.image.copy() for frame in source.frames(stop or threading.Event())]


def test_sprites_move_over_the_background_frame_by_frame() -> None:
    source = FakeSource(frames=6, sprites=[WALKER], size=FrameSize(100, 80), fps=5.0)
    frames = list(source.frames(threading.Event()))
    assert [(f.index, f.timestamp) for f in frames] == [(i, i / 5.0) for i in range(6)]
    assert frames[0].image.shape == (80, 100, 3)
    assert frames[0].image is frames[5].image  # one reused buffer, as real sources decode
    assert source.boxes(2) == [Box(20, 22, 40, 62)]
    assert source.boxes(4) == []  # past its last frame


def test_the_pixels_show_the_sprite_where_boxes_says() -> None:
    source = FakeSource(frames=3, sprites=[WALKER], size=FrameSize(100, 80))
    image = snapshots(source)[2]
    inside = image[22:62, 20:40]
    assert set(map(tuple, inside.reshape(-1, 3).tolist())) == {(0, 0, 250), (0, 0, 125)}
    outside = np.ones(image.shape[:2], bool)
    outside[22:62, 20:40] = False
    assert (image[outside] == 40).all()


def test_two_runs_give_the_same_frames() -> None:
    def source() -> FakeSource:
        return FakeSource(frames=4, sprites=[WALKER, Sprite(Box(50, 5, 70, 25), first_frame=2)])

    first, second = snapshots(source()), snapshots(source())
    assert len(first) == len(second) == 4
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_it_fails_mid_stream_when_asked() -> None:
    delivered = []
    with pytest.raises(SourceError, match="fails after 3 frames"):
        for frame in FakeSource(frames=10, fail_after=3, camera_id="cam-9").frames(
            threading.Event()
        ):
            delivered.append(frame.index)
    assert delivered == [0, 1, 2]


def test_stop_ends_it() -> None:
    stop = threading.Event()
    frames = FakeSource(frames=10).frames(stop)
    next(frames)
    stop.set()
    assert list(frames) == []


def test_realtime_paces_frames_at_the_video_rate() -> None:
    source = FakeSource(frames=6, fps=20.0, realtime=True)
    started = time.monotonic()
    arrived = [time.monotonic() - started for _ in source.frames(threading.Event())]
    # Frame i is delivered i / 20 s after the first, as a camera would deliver it (and not
    # much later: the wait is not a fixed sleep added to the work).
    for index, seconds in enumerate(arrived):
        assert index / 20 - 0.005 <= seconds <= index / 20 + 0.05


def test_without_realtime_frames_come_as_fast_as_they_are_made() -> None:
    started = time.monotonic()
    assert len(snapshots(FakeSource(frames=6, fps=1.0))) == 6
    assert time.monotonic() - started < 1.0


def test_stop_interrupts_a_realtime_wait() -> None:
    stop = threading.Event()
    started = time.monotonic()
    for frame in FakeSource(frames=3, fps=0.5, realtime=True).frames(stop):
        threading.Timer(0.1, stop.set).start()
        assert frame.index == 0
    assert time.monotonic() - started < 1.0
