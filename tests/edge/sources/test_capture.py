"""CaptureSource on real files (vtest clips, a garbage file, a truncated copy) and on live
sources that drop and come back (scripted captures) or never answer (a closed local port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.errors import SourceError
from edge.sources.base import Frame, SourceSettings, SourceStatus
from edge.sources.capture import Capture, CaptureSource
from tests.footage.clips import clip_path


def read_all(source: CaptureSource, stop: threading.Event | None = None) -> list[Frame]:
    """Frames with their pixels copied (the source reuses one buffer)."""
    return [
        Frame(frame.image.copy(), frame.index, frame.timestamp)
        for frame in source.frames(stop or threading.Event())
    ]


def file_source(path: Path, fps: float | None = None) -> CaptureSource:
    return CaptureSource(SourceSettings(url=str(path), fps=fps), camera_id="test")


def test_a_file_yields_every_frame_with_stream_timestamps() -> None:
    frames = read_all(file_source(clip_path("vtest-3s.avi")))
    assert len(frames) == 30
    assert [f.index for f in frames] == list(range(30))
    assert frames[10].timestamp == pytest.approx(1.0)
    assert frames[0].image.shape == (576, 768, 3)
    assert frames[0].image.dtype == np.uint8
    # Different pixels in every frame: the reused buffer was really refilled.
    assert not np.array_equal(frames[0].image, frames[29].image)


def test_a_file_is_sampled_to_the_target_rate() -> None:
    frames = read_all(file_source(clip_path("city-negative-3s.avi"), fps=5))  # 25 fps source
    assert [f.index for f in frames] == list(range(0, 75, 5))


def test_the_stop_event_ends_a_file_early_without_an_error() -> None:
    stop = threading.Event()
    seen = 0
    for _ in file_source(clip_path("vtest-3s.avi")).frames(stop):
        seen += 1
        if seen == 3:
            stop.set()
    assert seen == 3


def test_realtime_delivers_a_file_at_its_own_rate_with_wall_clock_capture_times() -> None:
    source = CaptureSource(
        SourceSettings(url=str(clip_path("vtest-3s.avi")), fps=None, realtime=True),
        camera_id="test",
    )
    stop = threading.Event()
    lags = []
    for frame in source.frames(stop):
        # The frame's capture time (what the pipeline stamps on crops) is the wall clock now.
        lags.append((datetime.now(UTC) - source.started_at).total_seconds() - frame.timestamp)
        if frame.index == 5:
            stop.set()
    assert len(lags) == 6
    assert all(-0.005 <= lag <= 0.05 for lag in lags), lags


def test_realtime_is_for_files_only() -> None:
    with pytest.raises(ValueError, match="realtime applies to video files and image folders only"):
        SourceSettings(url="rtsp://camera/stream", realtime=True)


def test_a_file_resumes_after_a_frame_exactly_where_an_uninterrupted_read_goes_on() -> None:
    clip = clip_path("vtest-3s.avi")
    whole = read_all(file_source(clip))
    resumed = read_all(
        CaptureSource(SourceSettings(url=str(clip), fps=None), camera_id="test", resume_after=16)
    )
    assert [f.index for f in resumed] == list(range(17, 30))
    assert [f.timestamp for f in resumed] == [f.timestamp for f in whole[17:]]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(resumed, whole[17:], strict=True))


class Unseekable:
    """A real file capture whose container refuses seeking: the source grabs past instead."""

    def __init__(self, path: Path) -> None:
        self._capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        self.seeks = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._capture, name)

    def set(self, prop_id: int, value: float) -> bool:
        self.seeks += 1
        return False


def test_a_file_that_cannot_seek_is_read_past_the_processed_frames() -> None:
    clip = clip_path("vtest-3s.avi")
    whole = read_all(file_source(clip))
    capture = Unseekable(clip)
    source = CaptureSource(
        SourceSettings(url=str(clip), fps=None),
        camera_id="test",
        opener=lambda: capture,
        resume_after=9,
    )
    resumed = read_all(source)
    assert capture.seeks == 1
    assert [f.index for f in resumed] == list(range(10, 30))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(resumed, whole[10:], strict=True))


def test_a_resumed_file_keeps_the_frames_an_uninterrupted_run_samples() -> None:
    clip = clip_path("city-negative-3s.avi")  # 25 fps, sampled to 4: not every 6th frame
    settings = SourceSettings(url=str(clip), fps=4)
    whole = [f.index for f in read_all(CaptureSource(settings, camera_id="test"))]
    resumed = read_all(CaptureSource(settings, camera_id="test", resume_after=whole[4]))
    assert [f.index for f in resumed] == whole[5:]


def test_a_file_resumed_after_its_last_frame_yields_nothing_and_no_error() -> None:
    settings = SourceSettings(url=str(clip_path("vtest-3s.avi")), fps=None)
    assert read_all(CaptureSource(settings, camera_id="test", resume_after=29)) == []


def test_a_resumed_realtime_file_stamps_wall_clock_capture_times() -> None:
    settings = SourceSettings(url=str(clip_path("vtest-3s.avi")), fps=None, realtime=True)
    source = CaptureSource(settings, camera_id="test", resume_after=19)
    stop = threading.Event()
    for frame in source.frames(stop):
        lag = (datetime.now(UTC) - source.started_at).total_seconds() - frame.timestamp
        assert frame.index == 20
        assert -0.005 <= lag <= 0.05
        stop.set()


def test_a_missing_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"camera test: video file .*nope.avi does not exist"):
        read_all(file_source(tmp_path / "nope.avi"))


def test_a_garbage_file_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.avi"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match=r"cannot open video file .*garbage\.avi: it is unread"):
        read_all(file_source(path))


def test_a_truncated_file_is_a_source_error_after_its_readable_frames(tmp_path: Path) -> None:
    path = tmp_path / "truncated.avi"
    path.write_bytes(clip_path("vtest-3s.avi").read_bytes()[:300_000])
    frames: list[int] = []
    with pytest.raises(SourceError, match=r"ended after \d+ of the 30 frames .* truncated"):
        for frame in file_source(path).frames(threading.Event()):
            frames.append(frame.index)
    assert 0 < len(frames) < 30


class ScriptedCapture:
    """A live capture that opens (or not) and then delivers `frames` frames before dying."""

    def __init__(self, opened: bool, frames: int = 0) -> None:
        self._opened = opened
        self._left = frames
        self.released = False

    def isOpened(self) -> bool:
        return self._opened

    def grab(self) -> bool:
        if self._left == 0:
            return False
        self._left -= 1
        return True

    def retrieve(self, image: object = None, flag: int = 0) -> tuple[bool, np.ndarray]:
        return True, np.zeros((4, 4, 3), np.uint8)

    def get(self, prop_id: int) -> float:
        return 0.0

    def set(self, prop_id: int, value: float) -> bool:
        return False

    def release(self) -> None:
        self.released = True


def scripted(*captures: ScriptedCapture) -> Iterator[Capture]:
    yield from captures
    while True:  # the camera stays dead
        yield ScriptedCapture(opened=False)


def live_settings(**overrides: object) -> SourceSettings:
    values: dict[str, object] = {
        "url": "rtsp://admin:hunter2@192.0.2.10:554/stream",
        "fps": None,
        "reconnect": {"initial_s": 0.01, "max_s": 0.02},
        "reconnect_attempts": 3,
    }
    return SourceSettings.model_validate(values | overrides)


def test_a_live_source_reconnects_and_reports_each_change() -> None:
    captures = [
        ScriptedCapture(opened=True, frames=3),
        ScriptedCapture(opened=False),
        ScriptedCapture(opened=True, frames=2),
    ]
    statuses: list[tuple[SourceStatus, str]] = []
    source = CaptureSource(
        live_settings(),
        camera_id="gate",
        opener=scripted(*captures).__next__,
        on_status=lambda status, detail: statuses.append((status, detail)),
    )
    stop = threading.Event()
    frames = []
    for frame in source.frames(stop):
        frames.append(frame)
        if len(frames) == 5:
            stop.set()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert all(b.timestamp >= a.timestamp for a, b in pairwise(frames))
    assert [s for s, _ in statuses] == [
        SourceStatus.CONNECTED,
        SourceStatus.DISCONNECTED,
        SourceStatus.CONNECTED,
    ]
    assert all("hunter2" not in detail for _, detail in statuses)
    assert all(c.released for c in captures)


def test_a_live_source_gives_up_after_its_budget_without_leaking_the_password() -> None:
    source = CaptureSource(live_settings(), camera_id="gate", opener=scripted().__next__)
    started = time.monotonic()
    with pytest.raises(SourceError) as excinfo:
        read_all(source)
    message = str(excinfo.value)
    assert "camera gate: rtsp://***@192.0.2.10:554/stream is unreachable" in message
    assert "after 4 attempts in a row" in message
    assert "hunter2" not in message
    assert time.monotonic() - started < 1.0


def test_one_delivered_frame_resets_the_failure_budget() -> None:
    # Budget 3. Three failed connects, a frame; then each time the stream drops (failure 1)
    # and two connects fail (2, 3) before the next frame: 9 failures, never 4 in a row.
    script = [ScriptedCapture(opened=False) for _ in range(3)]
    for _ in range(3):
        script += [ScriptedCapture(opened=True, frames=1)]
        script += [ScriptedCapture(opened=False) for _ in range(2)]
    source = CaptureSource(live_settings(), camera_id="gate", opener=iter(script).__next__)
    stop = threading.Event()
    frames = 0
    for _ in source.frames(stop):
        frames += 1
        if frames == 3:
            stop.set()
    assert frames == 3


def test_stopping_interrupts_a_long_backoff() -> None:
    source = CaptureSource(
        live_settings(reconnect={"initial_s": 30, "max_s": 30}, reconnect_attempts=None),
        camera_id="gate",
        opener=scripted().__next__,
    )
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    assert read_all(source, stop) == []
    assert time.monotonic() - started < 2.0


def test_a_real_stream_that_refuses_connections_fails_with_a_clear_error() -> None:
    with socket.socket() as probe:  # a local port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = live_settings(url=f"rtsp://admin:hunter2@127.0.0.1:{port}/live", open_timeout_s=2)
    with pytest.raises(SourceError, match=f"rtsp://\\*\\*\\*@127.0.0.1:{port}/live is unreachable"):
        read_all(CaptureSource(settings, camera_id="gate"))


def test_udp_transport_is_for_rtsp_streams_only() -> None:
    assert SourceSettings(url="rtsp://camera/stream", transport="udp").transport == "udp"
    with pytest.raises(ValueError, match="transport applies to rtsp"):
        SourceSettings(url="http://camera/stream.mjpg", transport="udp")
