from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.transport.outbox import Outbox, OutboxError, OutboxSettings, SpoolBounds
from tests.edge.transport.outbox_v0 import make_v0_outbox

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
    return Outbox(OutboxSettings(path=path, record=bounds, crop=bounds, dead_letter_rows=dead))


def test_rows_come_back_oldest_first_and_leave_only_when_deleted(outbox: Outbox) -> None:
    first = outbox.put("event", "dev:1", b"one")
    second = outbox.put("track", "dev:2", b"two")
    outbox.put("crop", "0190-crop", b"jpeg")
    rows = outbox.peek("record", 10)
    assert [(r.id, r.kind, r.type, r.key, r.payload, r.attempts) for r in rows] == [
        (first, "record", "event", "dev:1", b"one", 0),
        (second, "record", "track", "dev:2", b"two", 0),
    ]
    assert outbox.peek("record", 10) == rows  # peeking does not consume
    assert outbox.delete("record", [first]) == 1
    assert [r.key for r in outbox.peek("record", 10)] == ["dev:2"]
    assert [r.key for r in outbox.peek("crop", 10)] == ["0190-crop"]


def test_depth_and_bytes_follow_puts_and_deletes(outbox: Outbox) -> None:
    a = outbox.put("event", "k1", b"12345")
    outbox.put("crop", "c1", b"1234567890")
    assert (outbox.depth(), outbox.bytes()) == (2, 15)
    assert (outbox.depth("crop"), outbox.bytes("crop")) == (1, 10)
    outbox.delete("record", [a])
    assert (outbox.depth("record"), outbox.bytes("record")) == (0, 0)


def test_putting_a_spooled_key_again_stores_nothing(outbox: Outbox) -> None:
    first = outbox.put("crop", "0190-same", b"jpeg")
    assert outbox.put("crop", "0190-same", b"jpeg") == first
    assert outbox.depth("crop") == 1


def test_mark_attempt_counts_attempts(outbox: Outbox) -> None:
    row_id = outbox.put("event", "k", b"x")
    outbox.mark_attempt([row_id])
    outbox.mark_attempt([row_id])
    outbox.strike([row_id])
    (row,) = outbox.peek("record", 1)
    assert (row.attempts, row.strikes) == (2, 1)


def test_the_row_bound_drops_the_oldest_counts_and_warns(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small(path, rows=3) as outbox, caplog.at_level(logging.WARNING):
        for seq in range(1, 6):
            outbox.put("event", f"dev:{seq}", b"x")
        assert [r.key for r in outbox.peek("record", 10)] == ["dev:3", "dev:4", "dev:5"]
        assert outbox.dropped() == {"record": 2, "crop": 0}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[-1] == (
        "outbox full for record: dropped the 1 oldest rows (1 bytes), 2 dropped in total"
    )


def test_the_byte_bound_drops_as_many_old_rows_as_needed(path: Path) -> None:
    with small(path, size=100) as outbox:
        for seq in range(4):
            outbox.put("crop", f"c{seq}", bytes(30))  # 120 bytes: c0 goes
        outbox.put("crop", "big", bytes(90))  # needs all but itself gone
        assert [r.key for r in outbox.peek("crop", 10)] == ["big"]
        assert outbox.bytes("crop") == 90
        assert outbox.dropped()["crop"] == 4


def test_bounds_are_per_kind_so_crops_never_push_out_records(path: Path) -> None:
    with small(path, rows=2) as outbox:
        outbox.put("event", "event", b"e")
        for seq in range(5):
            outbox.put("crop", f"c{seq}", b"jpeg")
        assert [r.key for r in outbox.peek("record", 10)] == ["event"]
        assert outbox.dropped() == {"record": 0, "crop": 3}


def test_a_payload_larger_than_the_whole_budget_is_an_error(path: Path) -> None:
    with small(path, size=10) as outbox:
        outbox.put("crop", "kept", b"x")
        with pytest.raises(ValueError, match="exceeds the outbox budget of 10 bytes"):
            outbox.put("crop", "huge", bytes(11))
        assert [r.key for r in outbox.peek("crop", 10)] == ["kept"]


def test_rows_and_counters_survive_reopening(path: Path) -> None:
    with small(path, rows=1) as outbox:
        outbox.put("event", "old", b"1")
        outbox.put("track", "new", b"2")
        first = outbox.next_seq("dev")
    with small(path, rows=1) as reopened:
        assert [(r.key, r.payload) for r in reopened.peek("record", 10)] == [("new", b"2")]
        assert reopened.dropped()["record"] == 1
        assert (reopened.depth(), reopened.bytes()) == (1, 1)
        assert reopened.next_seq("dev") == first + 1


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
    taken = int(done.stdout)
    with Outbox(OutboxSettings(path=path)) as outbox:
        assert [r.payload for r in outbox.peek("crop", 10)] == [b"jpeg-0", b"jpeg-1", b"jpeg-2"]
        assert outbox.next_seq("dev") == taken + 1


def test_seq_counters_are_per_device_and_per_counter(outbox: Outbox) -> None:
    a1, a2, a3 = (outbox.next_seq("a") for _ in range(3))
    assert a2 == a1 + 1 and a3 == a1 + 2
    assert outbox.next_seq("b") <= a1  # its own counter, from the same start
    assert outbox.next_seq("a", "session") <= a1
    assert outbox.next_seq("a") == a1 + 3


def test_a_new_outbox_starts_its_counters_at_its_creation_time_in_microseconds(
    path: Path,
) -> None:
    before = time.time_ns() // 1000
    with Outbox(OutboxSettings(path=path)) as outbox:
        after = time.time_ns() // 1000
        assert before < outbox.next_seq("dev") <= after + 1
        assert before < outbox.next_seq("dev", "session") <= after + 1


def test_a_new_outbox_continues_above_every_key_of_a_lost_one(path: Path) -> None:
    with Outbox(OutboxSettings(path=path)) as lost:
        used = [lost.next_seq("dev") for _ in range(1000)]
        session = lost.next_seq("dev", "session")
    path.unlink()  # the spool is gone (disk replaced, file deleted): the agent starts afresh
    with Outbox(OutboxSettings(path=path)) as fresh:
        assert fresh.next_seq("dev") > max(used)
        assert fresh.next_seq("dev", "session") > session


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
    assert sorted(seen) == list(range(min(seen), min(seen) + 200))


def test_concurrent_puts_are_all_kept(path: Path) -> None:
    with small(path, rows=10_000) as outbox:

        def produce(worker: int) -> None:
            for seq in range(100):
                outbox.put("event", f"{worker}:{seq}", b"x")

        threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outbox.depth("record") == 400
        assert len({r.key for r in outbox.peek("record", 1000)}) == 400


def test_dead_letters_leave_the_spool_and_are_counted(path: Path) -> None:
    with small(path, dead=2) as outbox:
        for seq in range(3):
            outbox.put("crop", f"c{seq}", b"bad")
        ids = [row.id for row in outbox.peek("crop", 10)]
        assert outbox.dead_letter(ids, "undecodable JPEG") == 3
        assert outbox.dead_letter(ids[:1], "again") == 0  # already gone: not counted twice
        assert outbox.depth("crop") == 0
        assert outbox.dead_lettered() == {"record": 0, "crop": 3}
        # Only the newest two are kept for inspection.
        assert [r.key for r in outbox.dead_letters("crop")] == ["c1", "c2"]


def test_a_message_that_can_never_be_sent_is_recorded_as_a_counted_dead_letter(
    outbox: Outbox,
) -> None:
    outbox.reject("crop", "0190-huge", b"jpeg", "too large even at the smallest encoding")
    assert outbox.depth() == 0
    assert outbox.dead_lettered() == {"record": 0, "crop": 1}
    (dead,) = outbox.dead_letters("crop")
    assert (dead.key, dead.type, dead.payload) == ("0190-huge", "crop", b"jpeg")
    assert outbox.dead_letter_reasons("crop") == ["too large even at the smallest encoding"]


# Migration from the first layout ----------------------------------------------------------------


def test_an_old_spool_is_migrated_on_open_losing_nothing(path: Path) -> None:
    path.parent.mkdir(parents=True)
    make_v0_outbox(
        path,
        [
            ("mqtt", "dev:40", "sightline/v1/lab/dev/events", b"event-40"),
            ("crop", "0190-a", "", b"jpeg-a"),
            ("mqtt", "dev:41", "sightline/v1/lab/dev/tracks", b"track-41"),
            ("mqtt", "dev:39", "sightline/v1/lab/dev/metrics", b"metrics-39"),
        ],
    )
    with Outbox(OutboxSettings(path=path)) as outbox:
        records = outbox.peek("record", 10)
        assert [(r.type, r.key, r.payload, r.attempts, r.strikes) for r in records] == [
            ("event", "dev:40", b"event-40", 3, 0),
            ("track", "dev:41", b"track-41", 3, 0),
        ]
        assert records[0].created == 1700000000.5
        (crop,) = outbox.peek("crop", 10)
        assert (crop.type, crop.key, crop.payload) == ("crop", "0190-a", b"jpeg-a")
        assert (outbox.depth("record"), outbox.bytes("record")) == (2, 16)
        assert (outbox.depth("crop"), outbox.bytes("crop")) == (1, 6)
        # A topic that is no longer spooled is not lost silently: dead-lettered and counted.
        assert [r.key for r in outbox.dead_letters("record")] == ["dev:1", "dev:39"]
        assert outbox.dead_letter_reasons("record")[1] == (
            "migrated: rows of topic sightline/v1/lab/dev/metrics are no longer spooled"
        )
        assert outbox.dead_lettered() == {"record": 2, "crop": 0}
        assert outbox.dropped() == {"record": 4, "crop": 2}
        # An existing outbox keeps counting where it was.
        assert outbox.next_seq("dev") == 42
        assert outbox.next_seq("dev", "session") == 10
        # New rows go in beside the migrated ones, with the same bounds and idempotency.
        assert outbox.put("event", "dev:40", b"again") == records[0].id
        outbox.put("event", "dev:42", b"event-42")
        assert outbox.depth("record") == 3
    with Outbox(OutboxSettings(path=path)) as reopened:  # migrated once, opened plainly now
        assert [r.key for r in reopened.peek("record", 10)] == ["dev:40", "dev:41", "dev:42"]
        assert reopened.next_seq("dev") == 43


def test_a_spool_from_a_newer_agent_is_refused_and_left_alone(path: Path) -> None:
    with Outbox(OutboxSettings(path=path)) as outbox:
        outbox.put("event", "dev:1", b"kept")
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(OutboxError, match="schema 99, newer than this agent's 1"):
        Outbox(OutboxSettings(path=path))
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 1")
    with Outbox(OutboxSettings(path=path)) as outbox:
        assert [r.payload for r in outbox.peek("record", 10)] == [b"kept"]


def test_a_delivered_row_the_bound_dropped_meanwhile_comes_off_the_drop_count(
    tmp_path: Path,
) -> None:
    bounds = SpoolBounds(max_rows=2, max_bytes=1024)
    with Outbox(OutboxSettings(path=tmp_path / "o.sqlite3", record=bounds)) as outbox:
        in_flight = [outbox.put("event", f"dev:{n}", b"e") for n in (1, 2)]
        outbox.put("event", "dev:3", b"e")  # drops dev:1, which is being uploaded
        assert outbox.dropped()["record"] == 1
        assert outbox.delete("record", in_flight) == 1  # the cloud stored both
        assert outbox.dropped()["record"] == 0
        assert [row.key for row in outbox.peek("record", 10)] == ["dev:3"]
