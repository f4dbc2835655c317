"""FfmpegOptions: opens that agree share the process's FFmpeg options, others take turns, and
the operator's own options survive."""

from __future__ import annotations

import os
import threading
import time

import pytest

from edge.sources.ffmpeg_options import VARIABLE, FfmpegOptions


def test_opens_with_the_same_options_run_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)
    options = FfmpegOptions()
    both_inside = threading.Barrier(2, timeout=2)  # breaks (fails) if one has to wait

    def open_slowly() -> None:
        with options.applied("rtsp_transport;tcp"):
            assert os.environ[VARIABLE] == "rtsp_transport;tcp"
            both_inside.wait()

    other = threading.Thread(target=open_slowly)
    other.start()
    open_slowly()
    other.join()
    assert VARIABLE not in os.environ


def test_an_open_with_other_options_waits_and_is_not_starved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(VARIABLE, "analyzeduration;1000000")
    options = FfmpegOptions()
    seen: list[str] = []
    tcp_inside = threading.Event()
    release_tcp = threading.Event()

    def open_tcp_until_released() -> None:
        with options.applied("rtsp_transport;tcp"):
            tcp_inside.set()
            release_tcp.wait(5)

    def open_with(value: str) -> None:
        with options.applied(value):
            seen.append(os.environ[VARIABLE])

    first = threading.Thread(target=open_tcp_until_released)
    first.start()
    tcp_inside.wait(5)
    udp = threading.Thread(target=open_with, args=("rtsp_transport;udp",))
    udp.start()
    time.sleep(0.1)  # the UDP open is waiting now
    late_tcp = threading.Thread(target=open_with, args=("rtsp_transport;tcp",))
    late_tcp.start()
    time.sleep(0.1)
    assert seen == []  # neither got in beside the first TCP open
    release_tcp.set()
    for thread in (first, udp, late_tcp):
        thread.join(5)
    assert seen == [
        "analyzeduration;1000000|rtsp_transport;udp",
        "analyzeduration;1000000|rtsp_transport;tcp",
    ]
    assert os.environ[VARIABLE] == "analyzeduration;1000000"
