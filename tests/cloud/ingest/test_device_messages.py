"""Device MQTT payloads applied to the database, and the bridge's handling of bad ones."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DataError, IntegrityError, InterfaceError, OperationalError, ProgrammingError
from google.protobuf.timestamp_pb2 import Timestamp

from cloud.deploy.models import ReportedState
from cloud.errors import CloudError, InvalidInput
from cloud.fleet.models import Device, DeviceHealth, DeviceStatus
from cloud.ingest.bridge import Arrival, Handler, MqttBridge, MqttBridgeSettings
from cloud.ingest.device_messages import handle_device_message, handle_heartbeats
from cloud.monitoring.models import HeartbeatSample
from sightline.backoff import BackoffSettings
from sightline.device.v1 import key_pb2, metrics_pb2, state_pb2, status_pb2
from sightline.device.v1.topics import Upstream, UpstreamTopic

CONNECTED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
CONNECTED_TS = Timestamp(seconds=int(CONNECTED.timestamp()))
RECEIVED = CONNECTED + timedelta(hours=2)
FAST_RETRY = BackoffSettings(initial_s=0.01, max_s=0.01)
NAN = float("nan")


def topic(leaf: Upstream, device_id: str = "gate-01") -> UpstreamTopic:
    return UpstreamTopic(site="hq", device_id=device_id, leaf=leaf)


def key(seq: int, device_id: str = "gate-01") -> key_pb2.MessageKey:
    return key_pb2.MessageKey(device_id=device_id, seq=seq)


def status(
    state: status_pb2.DeviceState,
    session: int,
    seq: int,
    *,
    version: str = "0.3.1",
    time: Timestamp | None = CONNECTED_TS,
) -> bytes:
    message = status_pb2.DeviceStatus(
        key=key(seq), state=state, session_seq=session, agent_version=version
    )
    if time is not None:
        message.time.CopyFrom(time)
    return message.SerializeToString()


def apply(leaf: Upstream, payload: bytes) -> bool:
    return handle_device_message(topic(leaf), payload, RECEIVED)


def test_a_birth_marks_the_device_online(provisioned_device: Device) -> None:
    assert apply(Upstream.STATUS, status(status_pb2.DEVICE_STATE_ONLINE, session=4, seq=10))
    provisioned_device.refresh_from_db()
    assert provisioned_device.status == DeviceStatus.ONLINE
    assert provisioned_device.status_seq == 4
    assert provisioned_device.last_seen == CONNECTED
    assert provisioned_device.agent_version == "0.3.1"


def test_the_last_will_marks_it_offline_and_a_stale_one_is_ignored(
    provisioned_device: Device,
) -> None:
    apply(Upstream.STATUS, status(status_pb2.DEVICE_STATE_ONLINE, session=4, seq=10))
    apply(Upstream.STATUS, status(status_pb2.DEVICE_STATE_ONLINE, session=5, seq=20))
    # The will of session 4 arrives late (its broker-side delivery raced the reconnect).
    assert not apply(Upstream.STATUS, status(status_pb2.DEVICE_STATE_OFFLINE, session=4, seq=11))
    provisioned_device.refresh_from_db()
    assert (provisioned_device.status, provisioned_device.status_seq) == (DeviceStatus.ONLINE, 5)
    assert apply(Upstream.STATUS, status(status_pb2.DEVICE_STATE_OFFLINE, session=5, seq=21))
    provisioned_device.refresh_from_db()
    assert provisioned_device.status == DeviceStatus.OFFLINE


def metrics(seq: int, *lanes: metrics_pb2.LaneMetrics, **fields: int) -> bytes:
    message = metrics_pb2.Metrics(key=key(seq), session_seq=4, lanes=lanes, **fields)
    message.time.FromDatetime(CONNECTED)
    return message.SerializeToString()


CROP_LANE = metrics_pb2.LaneMetrics(
    kind="crop", rows=12, bytes=480_000, dropped_total=3, dead_letters_total=1, delivered_total=900
)
RECORD_LANE = metrics_pb2.LaneMetrics(
    kind="record", rows=0, delivered_total=40, error="device token revoked"
)


def test_the_latest_heartbeat_is_kept_with_the_losses_it_counts(
    provisioned_device: Device,
) -> None:
    # Before, metrics were checked and thrown away: the drops a device counted never showed.
    heartbeat = metrics(
        9,
        CROP_LANE,
        RECORD_LANE,
        outbox_rows=12,
        outbox_bytes=480_000,
        outbox_dropped_total=3,
        tracks_interrupted_total=2,
        disk_free_bytes=8 * 1024**3,
    )
    assert apply(Upstream.METRICS, heartbeat)
    health = DeviceHealth.objects.get(device=provisioned_device)
    assert (health.seq, health.session_seq, health.sampled_at, health.received_at) == (
        9,
        4,
        CONNECTED,
        RECEIVED,
    )
    assert (health.outbox_rows, health.outbox_bytes, health.outbox_dropped_total) == (
        12,
        480_000,
        3,
    )
    assert (health.tracks_interrupted_total, health.disk_free_bytes) == (2, 8 * 1024**3)
    assert health.lanes == [
        {
            "kind": "crop",
            "rows": 12,
            "bytes": 480_000,
            "dropped_total": 3,
            "dead_letters_total": 1,
            "delivered_total": 900,
            "error": "",
        },
        {
            "kind": "record",
            "rows": 0,
            "bytes": 0,
            "dropped_total": 0,
            "dead_letters_total": 0,
            "delivered_total": 40,
            "error": "device token revoked",
        },
    ]
    # A later heartbeat replaces it; an earlier one, delivered late, does not (it only joins
    # the history), and a repeat changes nothing.
    assert apply(Upstream.METRICS, metrics(11, outbox_rows=1))
    assert apply(Upstream.METRICS, metrics(10, outbox_rows=5))
    assert not apply(Upstream.METRICS, metrics(10, outbox_rows=5))
    health.refresh_from_db()
    assert (health.seq, health.outbox_rows, health.lanes) == (11, 1, [])
    assert sorted(HeartbeatSample.objects.values_list("seq", flat=True)) == [9, 10, 11]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (metrics_pb2.Metrics(key=key(9)).SerializeToString(), "time"),
        (metrics(9, metrics_pb2.LaneMetrics(kind="")), "lanes.kind"),
        (metrics(9, metrics_pb2.LaneMetrics(kind="crop/x")), "lanes.kind"),
        (metrics(9, CROP_LANE, CROP_LANE), "each kind"),
        (metrics(9, metrics_pb2.LaneMetrics(kind="crop", error="token\x00")), "NUL"),
        (metrics(9, metrics_pb2.LaneMetrics(kind="crop", dropped_total=2**63)), "dropped_total"),
        (metrics(9, outbox_bytes=2**64 - 1), "outbox_bytes"),
        (metrics(2**63), "seq"),
    ],
)
def test_it_refuses_heartbeats_the_store_cannot_hold(
    provisioned_device: Device, payload: bytes, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        apply(Upstream.METRICS, payload)
    assert not DeviceHealth.objects.exists()


@pytest.mark.parametrize(
    ("leaf", "payload", "problem"),
    [
        (Upstream.STATUS, b"\xff\xff\xff", "not a DeviceStatus"),
        (Upstream.STATUS, status(status_pb2.DEVICE_STATE_UNSPECIFIED, 1, 1), "state"),
        (Upstream.STATUS, status(status_pb2.DEVICE_STATE_ONLINE, 1, seq=0), "seq"),
        (Upstream.STATUS, status(status_pb2.DEVICE_STATE_ONLINE, 2**63, 1), "session_seq"),
        (Upstream.STATUS, status(status_pb2.DEVICE_STATE_ONLINE, 1, 1, time=None), "time"),
        (
            Upstream.STATUS,
            status(status_pb2.DEVICE_STATE_ONLINE, 1, 1, time=Timestamp(seconds=2**40)),
            "time",
        ),
        (
            Upstream.STATUS,
            status(status_pb2.DEVICE_STATE_ONLINE, 1, 1, time=Timestamp(seconds=-1)),
            "ts",
        ),
        (Upstream.STATUS, status(status_pb2.DEVICE_STATE_ONLINE, 1, 1, version="0.3\x00"), "NUL"),
        (Upstream.STATUS, status(status_pb2.DEVICE_STATE_ONLINE, 1, 1, version="9" * 65), "agent"),
        (
            Upstream.STATUS,
            status_pb2.DeviceStatus(key=key(5, "gate-02")).SerializeToString(),
            "differs from the topic",
        ),
    ],
)
def test_it_refuses_payloads_that_break_the_contract(
    provisioned_device: Device, leaf: Upstream, payload: bytes, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        apply(leaf, payload)
    provisioned_device.refresh_from_db()
    assert provisioned_device.status_seq is None


@pytest.fixture
def bridge() -> MqttBridge:
    return MqttBridge(MqttBridgeSettings(host="127.0.0.1", retry=FAST_RETRY))


def test_the_bridge_counts_bad_messages_and_goes_on(
    provisioned_device: Device, bridge: MqttBridge, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    online = status(status_pb2.DEVICE_STATE_ONLINE, session=4, seq=10)
    messages = [
        ("sightline/v1/hq/gate-01/status", b"\x08\x96\x01garbage"),
        ("sightline/v1/hq/gate-01/status", online),
        ("sightline/v1/hq/ghost-01/status", status_for("ghost-01")),
        ("sightline/v1/hq/gate-01/unknown", b""),
        ("sightline/v1/hq/gate-01/status", online),
    ]
    for name, payload in messages:
        assert bridge.process(name, payload, RECEIVED, stop)
    assert bridge.counts == {
        "malformed": 1,
        "applied": 1,
        "unknown_device": 1,
        "unknown_topic": 1,
        "ignored": 1,
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("sightline/v1/hq/gate-01/status" in w for w in warnings)
    assert any("ghost-01" in w for w in warnings)


def status_for(device_id: str) -> bytes:
    message = status_pb2.DeviceStatus(
        key=key(1, device_id), state=status_pb2.DEVICE_STATE_ONLINE, session_seq=1
    )
    message.time.CopyFrom(CONNECTED_TS)
    return message.SerializeToString()


def failing(*errors: Exception) -> tuple[Handler, list[int]]:
    """A handler that raises `errors` one per call, then applies; and its call count."""
    calls: list[int] = []

    def handle(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return True

    return handle, calls


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
    ],
    ids=["connection lost", "connection closed"],
)
def test_the_bridge_retries_while_the_database_is_down(db: None, error: Exception) -> None:
    flaky, calls = failing(error, error)
    flaky_bridge = MqttBridge(MqttBridgeSettings(host="127.0.0.1", retry=FAST_RETRY), flaky)
    assert flaky_bridge.process("sightline/v1/hq/gate-01/status", b"", RECEIVED, threading.Event())
    assert len(calls) == 3
    assert flaky_bridge.counts == {"applied": 1}


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (DataError("invalid byte sequence for encoding UTF8: 0x00"), "refused_by_database"),
        (DataError("bigint out of range"), "refused_by_database"),
        (IntegrityError("violates foreign key constraint"), "refused_by_database"),
        (ProgrammingError('relation "fleet_device" does not exist'), "failed"),
        (ValueError("a bug"), "failed"),
    ],
)
def test_the_bridge_drops_what_retrying_cannot_fix_and_goes_on(
    db: None, error: Exception, outcome: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Before, any database error was retried forever: one message the database refused held
    # up every later message of every device.
    handle, calls = failing(error)
    bridge = MqttBridge(MqttBridgeSettings(host="127.0.0.1", retry=FAST_RETRY), handle)
    stop = threading.Event()
    assert bridge.process("sightline/v1/hq/gate-01/status", b"", RECEIVED, stop)
    assert bridge.process("sightline/v1/hq/gate-01/status", b"", RECEIVED, stop)
    assert len(calls) == 2
    assert bridge.counts == {outcome: 1, "applied": 1}
    dropped = [r for r in caplog.records if "sightline/v1/hq/gate-01/status" in r.getMessage()]
    assert len(dropped) == 1


def test_a_stop_during_a_retry_leaves_the_message_unacknowledged(db: None) -> None:
    down, _ = failing(OperationalError("connection refused"))
    stop = threading.Event()
    stop.set()
    bridge = MqttBridge(MqttBridgeSettings(host="127.0.0.1"), down)
    assert not bridge.process("sightline/v1/hq/gate-01/status", b"", RECEIVED, stop)


def camera_heartbeat(seq: int, device_id: str = "gate-01", **fields: float) -> bytes:
    """A heartbeat with one camera that ran at 4.5 of 5 fps, its gate keeping 300 frames from
    the detector, 7 frames dropped."""
    camera = metrics_pb2.CameraMetrics(
        camera_id="lobby",
        connected=True,
        frames_gated_total=300,
        frames_dropped_total=7,
        infer_fps=4.5,
        target_fps=5.0,
        detector_latency_p50_ms=20.0,
        detector_latency_p95_ms=31.0,
        detections=12,
    )
    message = metrics_pb2.Metrics(
        key=key(seq, device_id), session_seq=4, cameras=[camera], interval_s=5.0, **fields
    )
    message.time.FromDatetime(CONNECTED)
    return message.SerializeToString()


def test_the_bridge_stores_the_heartbeats_of_a_batch_together_and_refuses_bad_ones_alone(
    provisioned_device: Device, bridge: MqttBridge, caplog: pytest.LogCaptureFixture
) -> None:
    base = "sightline/v1/hq"
    online = status(status_pb2.DEVICE_STATE_ONLINE, session=4, seq=10)
    batch = [
        (f"{base}/gate-01/metrics", camera_heartbeat(11), RECEIVED),
        (f"{base}/gate-01/status", online, RECEIVED),
        (f"{base}/gate-01/metrics", b"\xff not protobuf", RECEIVED),
        (f"{base}/ghost-01/metrics", camera_heartbeat(3, "ghost-01"), RECEIVED),
        (f"{base}/gate-01/metrics", camera_heartbeat(12, temperature_celsius=NAN), RECEIVED),
        (f"{base}/gate-01/metrics", camera_heartbeat(13), RECEIVED),
        (f"{base}/gate-01/metrics", camera_heartbeat(11), RECEIVED),  # redelivered
    ]
    assert bridge.process_batch(batch, threading.Event()) == [True] * len(batch)
    assert bridge.counts == {"applied": 3, "malformed": 2, "unknown_device": 1, "ignored": 1}
    assert list(HeartbeatSample.objects.order_by("seq").values_list("seq", flat=True)) == [11, 13]
    sample = HeartbeatSample.objects.get(seq=13)
    assert (sample.infer_fps, sample.fps_ratio, sample.latency_p95_ms) == (4.5, 0.9, 31.0)
    assert (sample.detections, sample.interval_s) == (12, 5.0)
    assert sample.cameras == {"lobby": [0.0, 4.5, 5.0, 20.0, 31.0, 12]}
    health = DeviceHealth.objects.get(device=provisioned_device)
    assert health.seq == 13
    assert health.cameras == {
        "lobby": {
            "connected": True,
            "infer_fps": 4.5,
            "frames_gated_total": 300,
            "frames_dropped_total": 7,
        }
    }
    provisioned_device.refresh_from_db()
    assert provisioned_device.status == DeviceStatus.ONLINE
    assert any("temperature_celsius" in r.getMessage() for r in caplog.records)


def test_a_batch_the_database_refuses_is_stored_one_heartbeat_at_a_time(
    provisioned_device: Device,
) -> None:
    def refuse_batches(arrivals: object) -> list[bool | CloudError]:
        raise DataError("value out of range")

    bridge = MqttBridge(
        MqttBridgeSettings(host="127.0.0.1", retry=FAST_RETRY), handle_many=refuse_batches
    )
    batch = [("sightline/v1/hq/gate-01/metrics", camera_heartbeat(seq), RECEIVED) for seq in (5, 6)]
    assert bridge.process_batch(batch, threading.Event()) == [True, True]
    assert bridge.counts == {"applied": 2}  # each one alone, through the single path
    assert HeartbeatSample.objects.count() == 2


def test_a_batch_waits_for_the_database_and_a_stop_leaves_it_unacknowledged(
    provisioned_device: Device,
) -> None:
    calls: list[int] = []

    def down_twice(arrivals: Sequence[Arrival]) -> list[bool | CloudError]:
        calls.append(len(arrivals))
        if len(calls) <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        return handle_heartbeats(arrivals)

    bridge = MqttBridge(
        MqttBridgeSettings(host="127.0.0.1", retry=FAST_RETRY), handle_many=down_twice
    )
    batch = [("sightline/v1/hq/gate-01/metrics", camera_heartbeat(seq), RECEIVED) for seq in (5, 6)]
    assert bridge.process_batch(batch, threading.Event()) == [True, True]
    assert calls == [2, 2, 2]
    assert HeartbeatSample.objects.count() == 2
    stopped = threading.Event()
    stopped.set()
    calls.clear()
    later = [("sightline/v1/hq/gate-01/metrics", camera_heartbeat(s), RECEIVED) for s in (7, 8)]
    assert bridge.process_batch(later, stopped) == [False, False]
    assert HeartbeatSample.objects.count() == 2


def test_a_reported_state_keeps_the_agent_image_the_device_runs(
    provisioned_device: Device,
) -> None:
    message = state_pb2.ReportedState(
        key=key(3), generation=2, agent_image="sightline-edge-jetson:0.2.0", error="why not"
    )
    message.time.CopyFrom(CONNECTED_TS)
    assert apply(Upstream.REPORTED, message.SerializeToString())
    stored = ReportedState.objects.get(pk=provisioned_device.pk)
    assert (stored.agent_image, stored.error) == ("sightline-edge-jetson:0.2.0", "why not")
