from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.transport.outbox import Outbox, OutboxSettings, SpoolBounds

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "spool" / "outbox.sqlite3"


@pytest.fixture
def outbox(path: Path) -> Iterator[Outbox]:
    with Outbox(OutboxSettings(path=path)) as opened:
        yield opened


def small(path: Path, *, rows: int = 1000, size: int = 1_000_000, dead: int = 1000) -> Outbox:
    bounds = SpoolBounds(max_rows=rows, max_bytes=size)
    return Outbox(OutboxSettings(path=path, mqtt=bounds, crop=bounds, dead_letter_rows=dead))


def test_rows_come_back_oldest_first_and_leave_only_when_deleted(outbox: Outbox) -> None:
    first = outbox.put("mqtt", "dev:1", b"one", "t/events")
    second = outbox.put("mqtt", "dev:2", b"two", "t/events")
    outbox.put("crop", "0190-crop", b"jpeg")
    rows = outbox.peek("mqtt", 10)
    assert [(r.id, r.key, r.payload, r.topic, r.attempts) for r in rows] == [
        (first, "dev:1", b"one", "t/events", 0),
        (second, "dev:2", b"two", "t/events", 0),
    ]
    assert outbox.peek("mqtt", 10) == rows  # peeking does not consume
    assert outbox.delete([first]) == 1
    assert [r.key for r in outbox.peek("mqtt", 10)] == ["dev:2"]
    assert [r.key for r in outbox.peek("crop", 10)] == ["0190-crop"]


def test_depth_and_bytes_follow_puts_and_deletes(outbox: Outbox) -> None:
    a = outbox.put("mqtt", "k1", b"12345")
    outbox.put("crop", "c1", b"1234567890")
    assert (outbox.depth(), outbox.bytes()) == (2, 15)
    assert (outbox.depth("crop"), outbox.bytes("crop")) == (1, 10)
    outbox.delete([a])
    assert (outbox.depth("mqtt"), outbox.bytes("mqtt")) == (0, 0)


def test_putting_a_spooled_key_again_stores_nothing(outbox: Outbox) -> None:
    first = outbox.put("crop", "0190-same", b"jpeg")
    assert outbox.put("crop", "0190-same", b"jpeg") == first
    assert outbox.depth("crop") == 1


def test_mark_attempt_counts_attempts(outbox: Outbox) -> None:
    row_id = outbox.put("mqtt", "k", b"x")
    outbox.mark_attempt([row_id])
    outbox.mark_attempt([row_id])
    assert outbox.peek("mqtt", 1)[0].attempts == 2


def test_the_row_bound_drops_the_oldest_counts_and_warns(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small(path, rows=3) as outbox, caplog.at_level(logging.WARNING):
        for seq in range(1, 6):
            outbox.put("mqtt", f"dev:{seq}", b"x")
        assert [r.key for r in outbox.peek("mqtt", 10)] == ["dev:3", "dev:4", "dev:5"]
        assert outbox.dropped() == {"mqtt": 2, "crop": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[-1] == (
        "outbox full for mqtt: dropped the 1 oldest rows (1 bytes), 2 dropped in total"
    )


def test_the_byte_bound_drops_as_many_old_rows_as_needed(path: Path) -> None:
    with small(path, size=100) as outbox:
        for seq in range(4):
            outbox.put("crop", f"c{seq}", bytes(30))  # 120 bytes: c0 goes
        outbox.put("crop", "big", bytes(90))  # needs all but itself gone
        assert [r.key for r in outbox.peek("crop", 10)] == ["big"]
        assert outbox.bytes("crop") == 90
        assert outbox.dropped()["crop"] == 4


def test_bounds_are_per_kind_so_crops_never_push_out_metadata(path: Path) -> None:
    with small(path, rows=2) as outbox:
        outbox.put("mqtt", "event", b"e")
        for seq in range(5):
            outbox.put("crop", f"c{seq}", b"jpeg")
        assert [r.key for r in outbox.peek("mqtt", 10)] == ["event"]
        assert outbox.dropped() == {"mqtt": 0, "crop": 3}


def test_a_payload_larger_than_the_whole_budget_is_an_error(path: Path) -> None:
    with small(path, size=10) as outbox:
        outbox.put("crop", "kept", b"x")
        with pytest.raises(ValueError, match="exceeds the outbox budget of 10 bytes"):
            outbox.put("crop", "huge", bytes(11))
        assert [r.key for r in outbox.peek("crop", 10)] == ["kept"]


def test_rows_and_counters_survive_reopening(path: Path) -> None:
    with small(path, rows=1) as outbox:
        outbox.put("mqtt", "old", b"1")
        outbox.put("mqtt", "new", b"2")
        outbox.next_seq("dev")
    with small(path, rows=1) as reopened:
        assert [(r.key, r.payload) for r in reopened.peek("mqtt", 10)] == [("new", b"2")]
        assert reopened.dropped()["mqtt"] == 1
        assert (reopened.depth(), reopened.bytes()) == (1, 1)
        assert reopened.next_seq("dev") == 2


def test_committed_rows_survive_a_killed_process(path: Path) -> None:
    # SIGKILL right after put: no close(), no WAL checkpoint, no atexit handler.
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from edge.transport.outbox import Outbox, OutboxSettings\n"
        "outbox = Outbox(OutboxSettings(path=Path(sys.argv[1])))\n"
        "for i in range(3):\n"
        "    outbox.put('crop', f'crop-{i}', b'jpeg-%d' % i)\n"
        "print(outbox.next_seq('dev'), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], cwd=ROOT, capture_output=True, check=False
    )
    assert done.returncode == -9, done.stderr
    assert done.stdout == b"1\n"
    with Outbox(OutboxSettings(path=path)) as outbox:
        assert [r.payload for r in outbox.peek("crop", 10)] == [b"jpeg-0", b"jpeg-1", b"jpeg-2"]
        assert outbox.next_seq("dev") == 2


def test_seq_counters_are_per_device_and_per_counter(outbox: Outbox) -> None:
    assert [outbox.next_seq("a") for _ in range(3)] == [1, 2, 3]
    assert outbox.next_seq("b") == 1
    assert outbox.next_seq("a", "session") == 1
    assert outbox.next_seq("a") == 4


def test_seq_never_repeats_across_threads(outbox: Outbox) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            value = outbox.next_seq("dev")
            with lock:
                seen.append(value)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 201))


def test_concurrent_puts_are_all_kept(path: Path) -> None:
    with small(path, rows=10_000) as outbox:

        def produce(worker: int) -> None:
            for seq in range(100):
                outbox.put("mqtt", f"{worker}:{seq}", b"x")

        threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outbox.depth("mqtt") == 400
        assert len({r.key for r in outbox.peek("mqtt", 1000)}) == 400


def test_dead_letters_leave_the_spool_and_are_counted(path: Path) -> None:
    with small(path, dead=2) as outbox:
        for seq in range(3):
            outbox.put("crop", f"c{seq}", b"bad")
        ids = [row.id for row in outbox.peek("crop", 10)]
        outbox.dead_letter(ids, "undecodable JPEG")
        outbox.dead_letter(ids[:1], "again")  # already gone: not counted twice
        assert outbox.depth("crop") == 0
        assert outbox.dead_lettered() == {"mqtt": 0, "crop": 3}
        # Only the newest two are kept for inspection.
        assert [r.key for r in outbox.dead_letters("crop")] == ["c1", "c2"]
