"""Device MQTT payloads applied to the database, and the bridge's handling of bad ones."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError

from cloud.detections.models import Track
from cloud.errors import InvalidInput
from cloud.fleet.models import Device, DeviceEvent, DeviceStatus
from cloud.ingest.bridge import MqttBridge, MqttBridgeSettings
from cloud.ingest.device_messages import MalformedMessage, handle_device_message
from sightline.backoff import BackoffSettings
from sightline.device.v1 import event_pb2, key_pb2, metrics_pb2, status_pb2, track_pb2
from sightline.device.v1.topics import Upstream, UpstreamTopic

CONNECTED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
RECEIVED = CONNECTED + timedelta(hours=2)
FAST_RETRY = BackoffSettings(initial_s=0.01, max_s=0.01)
TRACK_ID = "01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b"


def topic(leaf: Upstream, device_id: str = "gate-01") -> UpstreamTopic:
    return UpstreamTopic(site="hq", device_id=device_id, leaf=leaf)


def key(seq: int, device_id: str = "gate-01") -> key_pb2.MessageKey:
    return key_pb2.MessageKey(device_id=device_id, seq=seq)


def status(state: status_pb2.DeviceState, session: int, seq: int) -> bytes:
    message = status_pb2.DeviceStatus(
        key=key(seq), state=state, session_seq=session, agent_version="0.3.1"
    )
    message.time.FromDatetime(CONNECTED)
    return message.SerializeToString()


def event(seq: int, name: str = "camera.disconnected", device_id: str = "gate-01") -> bytes:
    message = event_pb2.Event(
        key=key(seq, device_id),
        name=name,
        severity=event_pb2.EVENT_SEVERITY_WARNING,
        camera_id="lobby",
        message="no frames for 10 s",
        attributes={"retry_in_s": "5"},
    )
    message.time.FromDatetime(CONNECTED)
    return message.SerializeToString()


def summary(
    seq: int,
    first: datetime,
    last: datetime,
    label: str = "person",
    track_id: str = TRACK_ID,
    camera_id: str = "lobby",
) -> bytes:
    message = track_pb2.TrackSummary(
        key=key(seq), track_id=track_id, camera_id=camera_id, label=label, best_score=0.8
    )
    message.first_seen.FromDatetime(first)
    message.last_seen.FromDatetime(last)
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


def test_an_event_is_stored_once(provisioned_device: Device) -> None:
    assert apply(Upstream.EVENTS, event(7))
    # QoS 1 redelivery of the same message.
    assert not apply(Upstream.EVENTS, event(7))
    stored = DeviceEvent.objects.get()
    assert (stored.seq, stored.kind, stored.ts) == (7, "camera.disconnected", CONNECTED)
    assert stored.payload == {
        "severity": "EVENT_SEVERITY_WARNING",
        "camera_id": "lobby",
        "message": "no frames for 10 s",
        "attributes": {"retry_in_s": "5"},
    }


def test_track_summaries_create_the_track_and_widen_its_span(provisioned_device: Device) -> None:
    later = CONNECTED + timedelta(seconds=30)
    assert apply(Upstream.TRACKS, summary(3, CONNECTED, CONNECTED + timedelta(seconds=10)))
    assert not apply(Upstream.TRACKS, summary(4, CONNECTED, later, label="car"))
    # A repeat of the older summary shrinks nothing.
    apply(Upstream.TRACKS, summary(3, CONNECTED, CONNECTED + timedelta(seconds=10)))
    track = Track.objects.get()
    assert (track.id, track.camera.edge_id, track.label) == (TRACK_ID, "lobby", "person")
    assert (track.first_seen, track.last_seen) == (CONNECTED, later)


def test_metrics_are_checked_but_not_stored(provisioned_device: Device) -> None:
    metrics = metrics_pb2.Metrics(key=key(9), session_seq=4, outbox_rows=3)
    metrics.time.FromDatetime(CONNECTED)
    assert not apply(Upstream.METRICS, metrics.SerializeToString())
    with pytest.raises(MalformedMessage, match="time"):
        apply(Upstream.METRICS, metrics_pb2.Metrics(key=key(9)).SerializeToString())


@pytest.mark.parametrize(
    ("leaf", "payload", "problem"),
    [
        (Upstream.STATUS, b"\xff\xff\xff", "not a DeviceStatus"),
        (Upstream.STATUS, status(status_pb2.DEVICE_STATE_UNSPECIFIED, 1, 1), "state"),
        (Upstream.EVENTS, event(0), "seq"),
        (Upstream.EVENTS, event(5, name=""), "kind"),
        (
            Upstream.EVENTS,
            event_pb2.Event(key=key(5, "gate-02"), name="x").SerializeToString(),
            "differs from the topic",
        ),
        (Upstream.TRACKS, summary(3, CONNECTED + timedelta(seconds=1), CONNECTED), "first_seen"),
        (Upstream.TRACKS, summary(3, CONNECTED, CONNECTED, label=""), "label"),
    ],
)
def test_it_refuses_payloads_that_break_the_contract(
    provisioned_device: Device, leaf: Upstream, payload: bytes, problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        apply(leaf, payload)
    assert not DeviceEvent.objects.exists()
    assert not Track.objects.exists()


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (summary(3, CONNECTED, CONNECTED, track_id="lobby/3f2a9c/17"), "track_id"),
        (summary(3, CONNECTED, CONNECTED, track_id=TRACK_ID.upper()), "track_id"),
        (summary(3, CONNECTED, CONNECTED, camera_id="lobby/2"), "camera_id"),
        (track_pb2.TrackSummary(key=key(3), track_id=TRACK_ID).SerializeToString(), "camera_id"),
    ],
)
def test_it_refuses_track_summaries_with_malformed_ids(
    provisioned_device: Device, payload: bytes, problem: str
) -> None:
    with pytest.raises(MalformedMessage, match=problem):
        apply(Upstream.TRACKS, payload)
    assert not Track.objects.exists()


@pytest.fixture
def bridge() -> MqttBridge:
    return MqttBridge(MqttBridgeSettings(host="127.0.0.1", retry=FAST_RETRY))


def test_the_bridge_counts_bad_messages_and_goes_on(
    provisioned_device: Device, bridge: MqttBridge, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    messages = [
        ("sightline/v1/hq/gate-01/events", b"\x08\x96\x01garbage"),
        ("sightline/v1/hq/gate-01/events", event(1)),
        ("sightline/v1/hq/ghost-01/events", event(2, device_id="ghost-01")),
        ("sightline/v1/hq/gate-01/unknown", b""),
        ("sightline/v1/hq/gate-01/events", event(1)),
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
    assert DeviceEvent.objects.count() == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("sightline/v1/hq/gate-01/events" in w for w in warnings)
    assert any("ghost-01" in w for w in warnings)


def test_the_bridge_retries_while_the_database_is_down(db: None) -> None:
    attempts: list[int] = []

    def flaky(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("server closed the connection unexpectedly")
        return True

    flaky_bridge = MqttBridge(MqttBridgeSettings(host="127.0.0.1", retry=FAST_RETRY), flaky)
    assert flaky_bridge.process("sightline/v1/hq/gate-01/events", b"", RECEIVED, threading.Event())
    assert len(attempts) == 3
    assert flaky_bridge.counts == {"applied": 1}


def test_a_stop_during_a_retry_leaves_the_message_unacknowledged(db: None) -> None:
    def down(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
        raise OperationalError("connection refused")

    stop = threading.Event()
    stop.set()
    bridge = MqttBridge(MqttBridgeSettings(host="127.0.0.1"), down)
    assert not bridge.process("sightline/v1/hq/gate-01/events", b"", RECEIVED, stop)
