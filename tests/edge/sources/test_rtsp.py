"""CaptureSource against a real RTSP camera (GStreamer's RTSP server serving vtest.avi as H.264,
`tests.services.rtsp_server`): frames arrive over TCP and over UDP, the password never reaches a
log, and a camera whose server dies or freezes notices it within its read timeout, retries with
growing waits, and resumes when the server is back, while a file camera beside it keeps
delivering frames the whole time."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.sources.base import SourceSettings, SourceStatus
from edge.sources.capture import CaptureSource
from tests.footage.clips import VTEST, clip_path
from tests.services.rtsp_server import RtspServer

PASSWORD = "s3cr:t/pw"  # characters that must be escaped in a URL


@pytest.fixture
def server(rtsp_cameras: Callable[..., RtspServer]) -> RtspServer:
    return rtsp_cameras(VTEST, user="admin", password=PASSWORD)


@pytest.fixture
def printed(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Callable[[], str]:
    """Everything logged or printed so far: the log records, and what FFmpeg and OpenCV write to
    file descriptor 2 themselves, past `logging`."""
    caplog.set_level(logging.DEBUG)
    return lambda: caplog.text + capfd.readouterr().err


def live_settings(url: str, **overrides: object) -> SourceSettings:
    values: dict[str, object] = {
        "url": url,
        "fps": None,
        "open_timeout_s": 2,
        "read_timeout_s": 1,
        "reconnect": {"initial_s": 0.25, "max_s": 1.0},
        "reconnect_attempts": None,
    }
    return SourceSettings.model_validate(values | overrides)


def _udp_socket_count() -> int:
    """UDP sockets this process holds (RTP over UDP opens a pair per stream)."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/self/net/udp", "/proc/self/net/udp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            count += line.split()[9] in inodes
    return count


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_frames_arrive_with_the_chosen_transport_and_the_password_is_never_logged(
    server: RtspServer, transport: str, printed: Callable[[], str]
) -> None:
    statuses: list[str] = []
    source = CaptureSource(
        live_settings(server.url, transport=transport),
        camera_id="door",
        on_status=lambda status, detail: statuses.append(detail),
    )
    stop = threading.Event()
    shapes = []
    udp_sockets = 0
    for frame in source.frames(stop):
        shapes.append(frame.image.shape)
        udp_sockets = max(udp_sockets, _udp_socket_count())
        if len(shapes) == 10:
            stop.set()
    assert shapes == [(576, 768, 3)] * 10
    assert (udp_sockets > 0) == (transport == "udp")
    output = printed()
    assert "connected to rtsp://***@127.0.0.1" in output
    assert "s3cr" not in output + "".join(statuses)


class _Camera:
    """A source read on its own thread, as the agent runs cameras, noting when frames came."""

    def __init__(self, source: CaptureSource) -> None:
        self.frame_times: list[float] = []
        self.statuses: list[tuple[float, SourceStatus]] = []
        self.stop = threading.Event()
        self._source = source
        source._on_status = lambda status, _: self.statuses.append((time.monotonic(), status))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for _ in self._source.frames(self.stop):
            self.frame_times.append(time.monotonic())

    def frames_between(self, start: float, end: float) -> int:
        return sum(start <= t <= end for t in self.frame_times)

    def close(self) -> None:
        self.stop.set()
        self._thread.join(10)
        assert not self._thread.is_alive()


def wait_until(condition: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until `condition` held; fails the test after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "timed out"
        time.sleep(0.05)
    return time.monotonic() - started


def _statuses_after(camera: _Camera, moment: float) -> list[SourceStatus]:
    return [status for at, status in camera.statuses if at >= moment]


@pytest.mark.parametrize("outage", ["killed", "frozen"])
def test_a_lost_stream_is_noticed_retried_with_backoff_and_resumed_beside_a_healthy_camera(
    server: RtspServer, outage: str, printed: Callable[[], str]
) -> None:
    live = _Camera(CaptureSource(live_settings(server.url), camera_id="door"))
    files = _Camera(
        CaptureSource(
            SourceSettings(url=str(clip_path("vtest-20s.avi")), fps=None, realtime=True),
            camera_id="yard",
        )
    )
    try:
        wait_until(lambda: len(live.frame_times) >= 5, timeout_s=10)
        lost = time.monotonic()
        if outage == "killed":
            server.kill()  # the connection closes: noticed at once
        else:
            server.freeze()  # the connection stays open and silent: noticed by the read timeout
        noticed = wait_until(
            lambda: SourceStatus.DISCONNECTED in _statuses_after(live, lost), timeout_s=5
        )
        # Measured: a closed connection ends the read at once; on a silent one OpenCV's FFmpeg
        # reader gives up after three read_timeout_s (1 s) timeouts in a row.
        assert noticed < 3 * 1 + 1.5
        time.sleep(2)  # down for a while: several attempts, each wait longer
        back = time.monotonic()
        if outage == "killed":
            server.start()
        else:
            server.thaw()
        resumed = wait_until(lambda: live.frames_between(back, time.monotonic()) >= 5, 10)
        assert resumed < 10
        assert _statuses_after(live, lost)[-1] is SourceStatus.CONNECTED
        # The file camera delivered at its own 10 fps all along.
        assert files.frames_between(lost, back) >= 10 * (back - lost) * 0.8
        assert live.frames_between(lost + noticed, back) == 0
    finally:
        live.close()
        files.close()
    output = printed()
    attempts = [
        (int(n), float(s)) for n, s in re.findall(r"attempt (\d+)\); retrying in ([\d.]+)s", output)
    ]
    numbers = [n for n, _ in attempts]
    # Failures in a row while the server was down: refused connections fail at once and are
    # retried after each wait; against a frozen server each attempt also waits open_timeout_s.
    assert numbers[:3] == ([1, 2, 3] if outage == "killed" else [1])
    assert all(delay <= 1.0 for _, delay in attempts)  # reconnect.max_s caps every wait
    assert "s3cr" not in output
