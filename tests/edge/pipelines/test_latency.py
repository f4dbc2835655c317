"""Detector call times collected per camera and taken by the heartbeat."""

from __future__ import annotations

import threading

from edge.pipelines.latency import LatencyWindow


def test_take_returns_the_times_since_the_last_take_in_milliseconds() -> None:
    window = LatencyWindow()
    window.add(0.012)
    window.add(0.0305)
    assert window.take() == (12.0, 30.5)
    assert window.take() == ()
    window.add(0.001)
    assert window.take() == (1.0,)


def test_past_its_bound_the_oldest_times_go() -> None:
    window = LatencyWindow(max_times=3)
    for ms in range(1, 6):
        window.add(ms / 1000)
    assert window.take() == (3.0, 4.0, 5.0)


def test_adds_from_a_camera_thread_are_never_lost_or_taken_twice() -> None:
    window = LatencyWindow(max_times=100_000)
    taken: list[float] = []

    def camera() -> None:
        for _ in range(20_000):
            window.add(0.001)

    thread = threading.Thread(target=camera)
    thread.start()
    while thread.is_alive():
        taken.extend(window.take())
    thread.join()
    taken.extend(window.take())
    assert len(taken) == 20_000
