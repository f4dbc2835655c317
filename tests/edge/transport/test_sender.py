from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.errors import TransportError
from edge.transport.lane import BatchResult, Lane, Outcome
from edge.transport.outbox import Outbox, OutboxSettings, Row, SpoolBounds
from edge.transport.sender import Sender, SenderCounters, SenderSettings
from edge.transport.spool import enqueue_crop, enqueue_record
from edge.transport.uplink import Uplink
from sightline.backoff import BackoffSettings
from sightline.device.v1 import event_pb2
from sightline.ingest.v1 import ingest_pb2
from tests.edge.transport.fake_ingest import FakeIngest, create_server, uplink_to

FAST = SenderSettings(
    record_batch=3,
    crop_batch=4,
    idle_poll_s=0.02,
    backoff=BackoffSettings(initial_s=0.02, max_s=0.1),
)
MakeCrop = Callable[[], ingest_pb2.UploadCropsRequest]


@dataclass
class ScriptedLane:
    """A lane that answers each batch with the next scripted outcome (then DELIVERED)."""

    script: list[Callable[[Sequence[Row]], BatchResult]] = field(default_factory=list)
    is_ready: bool = True
    batches: list[list[str]] = field(default_factory=list)

    def ready(self) -> bool:
        return self.is_ready

    def send_batch(self, rows: Sequence[Row]) -> BatchResult:
        self.batches.append([row.key for row in rows])
        if self.script:
            return self.script.pop(0)(rows)
        return BatchResult({row.id: Outcome.DELIVERED for row in rows})


def every(outcome: Outcome, error: TransportError | None = None) -> Callable[..., BatchResult]:
    return lambda rows: BatchResult({row.id: outcome for row in rows}, error=error)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def running() -> Iterator[Callable[..., Sender]]:
    """Starts senders on a shared stop event and stops them after the test."""
    stop = threading.Event()
    senders: list[Sender] = []

    def start(outbox: Outbox, lanes: dict[str, Lane], settings: SenderSettings = FAST) -> Sender:
        sender = Sender(outbox, lanes, stop, settings)  # type: ignore[arg-type]
        sender.start()
        senders.append(sender)
        return sender

    yield start
    stop.set()
    for sender in senders:
        sender.join(timeout=5)


def put_events(outbox: Outbox, count: int) -> None:
    for seq in range(1, count + 1):
        outbox.put("event", f"dev:{seq}", b"event")


def test_it_drains_in_batches_oldest_first(outbox: Outbox, running: Callable[..., Sender]) -> None:
    put_events(outbox, 7)
    lane = ScriptedLane()
    sender = running(outbox, {"record": lane})
    wait_until(lambda: outbox.depth() == 0)
    assert lane.batches == [
        ["dev:1", "dev:2", "dev:3"],
        ["dev:4", "dev:5", "dev:6"],
        ["dev:7"],
    ]
    assert sender.counters()["record"] == SenderCounters(sent=7, acked=7)


def test_nothing_is_sent_or_dropped_while_the_lane_is_not_ready(
    outbox: Outbox, running: Callable[..., Sender]
) -> None:
    put_events(outbox, 2)
    lane = ScriptedLane(is_ready=False)
    sender = running(outbox, {"record": lane})
    time.sleep(0.2)
    assert lane.batches == []
    assert outbox.depth() == 2
    lane.is_ready = True
    sender.wake("record")
    wait_until(lambda: outbox.depth() == 0)


def test_transient_failures_keep_rows_and_retry_with_backoff(
    outbox: Outbox, running: Callable[..., Sender]
) -> None:
    put_events(outbox, 2)
    lane = ScriptedLane(
        script=[
            every(Outcome.UNACKED, TransportError("down", permanent=False)),
            every(Outcome.RETRY),
        ]
    )
    sender = running(outbox, {"record": lane})
    wait_until(lambda: outbox.depth() == 0)
    assert lane.batches == [["dev:1", "dev:2"]] * 3  # the same rows, unchanged, three times
    assert sender.counters()["record"] == SenderCounters(sent=6, acked=2, retries=4)


def test_rejected_rows_are_dead_lettered_and_never_retried(
    outbox: Outbox, running: Callable[..., Sender]
) -> None:
    put_events(outbox, 2)

    def reject_first(rows: Sequence[Row]) -> BatchResult:
        return BatchResult(
            {rows[0].id: Outcome.REJECTED, rows[1].id: Outcome.DUPLICATE},
            details={rows[0].id: "undecodable"},
        )

    lane = ScriptedLane(script=[reject_first])
    sender = running(outbox, {"record": lane})
    wait_until(lambda: outbox.depth() == 0)
    assert outbox.dead_lettered()["record"] == 1
    dead = outbox.dead_letters("record")
    assert [(row.key, row.attempts) for row in dead] == [("dev:1", 1)]
    assert sender.counters()["record"] == SenderCounters(sent=2, duplicates=1, rejected=1)
    assert len(lane.batches) == 1


def test_a_permanent_error_stops_only_its_own_lane(
    outbox: Outbox, running: Callable[..., Sender]
) -> None:
    put_events(outbox, 1)
    outbox.put("crop", "crop-1", b"jpeg")
    denied = TransportError("UNAUTHENTICATED", permanent=True)
    crops = ScriptedLane(script=[every(Outcome.UNACKED, denied)])
    events = ScriptedLane()
    sender = running(outbox, {"crop": crops, "record": events})
    wait_until(lambda: outbox.depth("record") == 0)
    wait_until(lambda: "crop" in sender.failures())
    time.sleep(0.2)
    assert sender.failures() == {"crop": denied}
    assert len(crops.batches) == 1  # not retried
    assert outbox.depth("crop") == 1  # and not lost


def test_a_lane_that_raises_does_not_end_the_loop(
    outbox: Outbox, running: Callable[..., Sender], caplog: pytest.LogCaptureFixture
) -> None:
    put_events(outbox, 1)

    def explode(rows: Sequence[Row]) -> BatchResult:
        raise RuntimeError("bug in a lane")

    lane = ScriptedLane(script=[explode])
    running(outbox, {"record": lane})
    wait_until(lambda: outbox.depth() == 0)
    assert "sending record rows failed unexpectedly" in caplog.text


def test_setting_stop_ends_the_thread(outbox: Outbox) -> None:
    stop = threading.Event()
    sender = Sender(outbox, {"record": ScriptedLane(), "crop": ScriptedLane()}, stop, FAST)
    sender.start()
    assert sender.alive()
    stop.set()
    sender.join(timeout=2)
    assert not sender.alive()


def test_a_slow_crop_upload_never_delays_records(
    outbox: Outbox, running: Callable[..., Sender]
) -> None:
    outbox.put("crop", "crop-1", b"jpeg")
    uploading = threading.Event()
    release = threading.Event()

    def slow_upload(rows: Sequence[Row]) -> BatchResult:
        uploading.set()
        release.wait(10)  # a crop upload on a slow link, bounded by its deadline
        return BatchResult({row.id: Outcome.DELIVERED for row in rows})

    crops = ScriptedLane(script=[slow_upload])
    records = ScriptedLane()
    sender = running(outbox, {"crop": crops, "record": records})
    try:
        assert uploading.wait(5)
        put_events(outbox, 7)
        sender.wake()
        wait_until(lambda: outbox.depth("record") == 0, timeout=2.0)
        assert outbox.depth("crop") == 1  # still uploading
    finally:
        release.set()
    wait_until(lambda: outbox.depth() == 0)


def test_an_outage_strikes_no_row_however_long_it_lasts(
    outbox: Outbox, running: Callable[..., Sender]
) -> None:
    put_events(outbox, 2)
    down = TransportError("UNAVAILABLE", permanent=False)
    outage = [every(Outcome.UNACKED, down)] * 4 + [every(Outcome.RETRY)] * 4
    lane = ScriptedLane(script=list(outage))
    sender = running(outbox, {"record": lane}, FAST.model_copy(update={"max_strikes": 2}))
    wait_until(lambda: outbox.depth() == 0)
    assert len(lane.batches) == 9  # every batch sent again after the outage, all delivered
    assert outbox.dead_lettered()["record"] == 0
    assert sender.counters()["record"].acked == 2


def test_a_lone_row_the_cloud_keeps_refusing_expires_by_age_but_an_unreachable_cloud_never(
    outbox: Outbox, running: Callable[..., Sender]
) -> None:
    outbox.put("event", "dev:1", b"refused")
    outbox.put("crop", "crop-1", b"unreachable")
    time.sleep(0.1)
    down = TransportError("UNAVAILABLE", permanent=False)
    refusing = ScriptedLane(script=[every(Outcome.RETRY)] * 2)
    unreachable = ScriptedLane(script=[every(Outcome.UNACKED, down)] * 3)
    settings = FAST.model_copy(update={"max_age_s": 0.05})
    sender = running(outbox, {"record": refusing, "crop": unreachable}, settings)
    wait_until(lambda: outbox.depth("record") == 0)
    (reason,) = outbox.dead_letter_reasons("record")
    assert reason.startswith("gave up after 1 attempts (0 while other rows were delivered)")
    assert reason.endswith("the cloud asked to retry it")
    wait_until(lambda: outbox.depth("crop") == 0)  # delivered once the cloud was back
    assert outbox.dead_lettered() == {"record": 1, "crop": 0}
    assert sender.counters()["crop"].acked == 1


def test_a_row_kept_while_others_go_expires_by_age(
    outbox: Outbox, running: Callable[..., Sender]
) -> None:
    put_events(outbox, 2)
    time.sleep(0.1)

    def keep_first(rows: Sequence[Row]) -> BatchResult:
        return BatchResult({rows[0].id: Outcome.UNACKED, rows[1].id: Outcome.DELIVERED})

    lane = ScriptedLane(script=[keep_first])
    sender = running(outbox, {"record": lane}, FAST.model_copy(update={"max_age_s": 0.05}))
    wait_until(lambda: outbox.depth() == 0)
    (reason,) = outbox.dead_letter_reasons("record")
    assert reason.startswith("gave up after 1 attempts (1 while other rows were delivered)")
    assert reason.endswith("it got no ack")
    assert sender.counters()["record"] == SenderCounters(sent=2, acked=1, expired=1)


# End to end with the gRPC lane -----------------------------------------------------------------


def test_crops_survive_a_stream_broken_after_storing_without_duplicates(
    outbox: Outbox,
    make_crop: MakeCrop,
    ingest: tuple[FakeIngest, int],
    uplink: Uplink,
    running: Callable[..., Sender],
) -> None:
    server, _ = ingest
    requests = [make_crop() for _ in range(10)]
    for request in requests:
        enqueue_crop(outbox, request)
    # Stored by the server but the ack never reaches the edge: the worst case for duplicates.
    server.drop_before_ack.update({requests[2].detection_id, requests[7].detection_id})
    sender = running(outbox, {"crop": uplink.crops})
    wait_until(lambda: outbox.depth() == 0)
    ids = [request.detection_id for request in requests]
    assert sorted(server.stored) == sorted(ids)
    assert set(server.store_count.values()) == {1}  # nothing stored twice
    # The unacked tails were re-sent; only the items the server had read show up twice there.
    seen = Counter(request.detection_id for request in server.received)
    assert sorted(id_ for id_, times in seen.items() if times > 1) == sorted([ids[2], ids[7]])
    for request in server.received:  # unchanged on every retry
        assert request == server.stored[request.detection_id]
    counters = sender.counters()["crop"]
    assert (counters.acked, counters.duplicates, counters.rejected) == (8, 2, 0)


def test_crops_wait_out_an_ingest_restart(
    outbox: Outbox, make_crop: MakeCrop, running: Callable[..., Sender]
) -> None:
    server_state = FakeIngest()
    server, port = create_server(server_state)
    server.stop(grace=None)  # ingest down before the crops are even spooled
    requests = [make_crop() for _ in range(5)]
    for request in requests:
        enqueue_crop(outbox, request)
    client = uplink_to(port)
    try:
        sender = running(outbox, {"crop": client.crops})
        wait_until(lambda: sender.counters()["crop"].retries >= 5)
        assert outbox.depth() == 5
        restarted, _ = create_server(server_state, port)
        try:
            wait_until(lambda: outbox.depth() == 0)
        finally:
            restarted.stop(grace=None)
    finally:
        client.close()
    assert sorted(server_state.stored) == sorted(r.detection_id for r in requests)


def test_crops_survive_an_ingest_crash_mid_stream(
    outbox: Outbox, make_crop: MakeCrop, running: Callable[..., Sender]
) -> None:
    state = FakeIngest()
    server, port = create_server(state)
    requests = [make_crop() for _ in range(6)]
    for request in requests:
        enqueue_crop(outbox, request)
    crashed = threading.Event()

    def crash_after_storing(detection_id: str) -> None:
        if detection_id == requests[1].detection_id and not crashed.is_set():
            crashed.set()
            server.stop(grace=None)  # the process dies: connections reset, no more acks

    state.on_stored = crash_after_storing
    client = uplink_to(port)
    try:
        sender = running(outbox, {"crop": client.crops})
        assert crashed.wait(10)
        restarted, _ = create_server(state, port)
        try:
            wait_until(lambda: outbox.depth() == 0)
        finally:
            restarted.stop(grace=None)
    finally:
        client.close()
    assert sorted(state.stored) == sorted(r.detection_id for r in requests)
    assert set(state.store_count.values()) == {1}
    # The crop stored just before the crash was never acked: re-sent, answered DUPLICATE.
    assert Counter(r.detection_id for r in state.received)[requests[1].detection_id] == 2
    assert sender.counters()["crop"].duplicates == 1


def test_a_poison_record_is_dead_lettered_while_the_others_flow_at_full_rate(
    outbox: Outbox, ingest: tuple[FakeIngest, int], uplink: Uplink, running: Callable[..., Sender]
) -> None:
    server, _ = ingest
    for n in range(40):
        enqueue_record(outbox, "test-device-1", event_pb2.Event(name=f"e{n}"))
    poison = outbox.peek("record", 1)[0]
    server.always[poison.key.rsplit(":", 1)[1]] = ingest_pb2.ACK_STATUS_RETRY_LATER
    # Any backoff would take seconds: the rows flow only if the lane never backs off.
    slow_backoff = BackoffSettings(initial_s=5.0, max_s=5.0)
    settings = FAST.model_copy(update={"backoff": slow_backoff, "max_strikes": 5})
    started = time.monotonic()
    sender = running(outbox, {"record": uplink.records}, settings)
    wait_until(lambda: outbox.depth() == 0, timeout=4.0)
    assert time.monotonic() - started < 4.0
    assert len(server.records) == 39  # every other record, stored once
    assert set(server.store_count.values()) == {1}
    (dead,) = outbox.dead_letters("record")
    assert dead.key == poison.key
    assert (dead.strikes, dead.attempts) == (5, 5)
    (reason,) = outbox.dead_letter_reasons("record")
    assert reason.startswith("gave up after 5 attempts (5 while other rows were delivered)")
    assert reason.endswith("the cloud asked to retry it")
    assert outbox.dead_lettered()["record"] == 1
    counters = sender.counters()["record"]
    assert (counters.acked, counters.expired, counters.rejected) == (39, 1, 0)


@pytest.fixture
def two_records_outbox(tmp_path: Path) -> Iterator[Outbox]:
    """An outbox that holds two records at most."""
    bounds = SpoolBounds(max_rows=2, max_bytes=1024)
    with Outbox(OutboxSettings(path=tmp_path / "o.sqlite3", record=bounds)) as opened:
        yield opened


def test_a_row_dropped_while_in_flight_and_then_stored_is_not_counted_as_lost(
    two_records_outbox: Outbox, running: Callable[..., Sender]
) -> None:
    # A backlog at the outbox's bound drains while the camera goes on: each new row drops the
    # oldest, which may be the one being uploaded. The cloud stores it all the same.
    outbox = two_records_outbox
    put_events(outbox, 2)
    stored: list[str] = []

    def new_rows_arrive_during_the_upload(rows: Sequence[Row]) -> BatchResult:
        outbox.put("event", "dev:3", b"event")
        outbox.put("event", "dev:4", b"event")  # drops dev:1 and dev:2, both in flight
        stored.extend(row.key for row in rows)
        return BatchResult({row.id: Outcome.DELIVERED for row in rows})

    lane = ScriptedLane(script=[new_rows_arrive_during_the_upload])
    running(outbox, {"record": lane}, FAST)
    wait_until(lambda: outbox.depth() == 0)
    stored.extend(key for batch in lane.batches[1:] for key in batch)
    assert sorted(stored) == ["dev:1", "dev:2", "dev:3", "dev:4"]  # nothing was lost...
    assert outbox.dropped()["record"] == 0  # ...so nothing may be counted as lost
