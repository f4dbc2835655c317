"""`DecodeAhead`: live sources drop their oldest frame when the consumer falls behind, files wait;
ends, failures and stops reach the consumer as they would without it."""

from __future__ import annotations

import threading
import time
from contextlib import closing
from datetime import UTC, datetime

import numpy as np
import pytest

from edge.errors import SourceError
from edge.sources.base import Frame, Frames
from edge.sources.decode_ahead import DecodeAhead
from edge.sources.fake import FakeSource

_WAIT_S = 5.0


class CountingSource:
    """Yields `count` frames into one reused buffer (pixel value = index), as fast as asked
    (after frame 0 only once `go` is set), then holds the stream open until `stop` (a live
    camera) or ends (`hold=False`)."""

    def __init__(self, count: int, *, hold: bool) -> None:
        self.count = count
        self.hold = hold
        self.produced = 0
        self.all_produced = threading.Event()
        self.closed = threading.Event()
        self.stop_seen: threading.Event | None = None
        self.go = threading.Event()
        self.go.set()

    @property
    def started_at(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def frames(self, stop: threading.Event) -> Frames:
        self.stop_seen = stop
        buffer = np.zeros((4, 4, 3), dtype=np.uint8)
        try:
            for index in range(self.count):
                buffer[:] = index
                self.produced = index + 1
                yield Frame(buffer, index, index / 10)
                self.go.wait()
            self.all_produced.set()
            if self.hold:
                stop.wait()
        finally:
            self.closed.set()


def test_a_live_source_drops_its_oldest_frames_when_the_consumer_falls_behind() -> None:
    source = CountingSource(10, hold=True)
    drops: list[int] = []
    ahead = DecodeAhead(source, camera_id="c", live=True, depth=2, on_drop=lambda: drops.append(1))
    source.go.clear()
    with closing(ahead.frames(threading.Event())) as frames:
        received = [next(frames)]
        # The consumer is busy: the camera goes on delivering, and only the newest two wait.
        source.go.set()
        assert source.all_produced.wait(_WAIT_S)
        received += [next(frames), next(frames)]
        assert [frame.index for frame in received] == [0, 8, 9]
        assert len(drops) == 7
        # Copies, not the source's reused buffer: each frame keeps its own pixels.
        assert [int(frame.image[0, 0, 0]) for frame in received] == [0, 8, 9]
    assert source.closed.is_set()


def test_a_file_never_drops_a_frame_the_reader_waits_instead() -> None:
    source = CountingSource(12, hold=False)
    drops: list[int] = []
    ahead = DecodeAhead(source, camera_id="c", live=False, depth=2, on_drop=lambda: drops.append(1))
    ahead_by: list[int] = []
    received: list[int] = []
    for frame in ahead.frames(threading.Event()):
        time.sleep(0.01)  # a slow detector
        ahead_by.append(source.produced - frame.index - 1)
        received.append(int(frame.image[0, 0, 0]))
    assert received == list(range(12))
    assert drops == []
    # The reader decoded at most the queue's depth plus the frame it holds ahead of the consumer.
    assert max(ahead_by) <= 3


def test_a_failing_source_delivers_its_frames_then_raises_on_the_consumer_thread() -> None:
    ahead = DecodeAhead(FakeSource(frames=10, fail_after=4), camera_id="c", live=False)
    indices: list[int] = []
    with pytest.raises(SourceError, match="fails after 4"):
        for frame in ahead.frames(threading.Event()):
            indices.append(frame.index)
    assert indices == [0, 1, 2, 3]


def test_stop_ends_the_frames_and_the_source_even_while_it_delivers_nothing() -> None:
    source = CountingSource(1, hold=True)
    ahead = DecodeAhead(source, camera_id="c", live=True)
    stop = threading.Event()
    frames = ahead.frames(stop)
    assert next(frames).index == 0
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert list(frames) == []
    assert time.monotonic() - started < 1.0
    assert source.stop_seen is not None and source.stop_seen.is_set()
    assert source.closed.is_set()


def test_closing_early_stops_the_reader_waiting_for_room() -> None:
    source = CountingSource(100, hold=False)
    ahead = DecodeAhead(source, camera_id="c", live=False, depth=2)
    with closing(ahead.frames(threading.Event())) as frames:
        assert next(frames).index == 0
    # Released when close returns, long before the 100 frames were decoded.
    assert source.closed.is_set()
    assert source.produced < 10
