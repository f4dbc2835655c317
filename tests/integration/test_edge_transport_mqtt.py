"""The edge transport against the real Mosquitto: presence (birth/will), the heartbeat, outages,
auth; records over gRPC to a fake ingest server, beside the MQTT link and independent of it.

The edge logs in with the device account (its ACL confines it to its own topics); an admin
session observes. Faults go through a TCP proxy in front of the shared broker, which must keep
running for everyone else: cutting the proxy's sockets kills the connection without an MQTT
goodbye, stopping it is a broker that is down.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from pydantic import SecretStr

from edge.errors import TransportError
from edge.transport.heartbeat import HeartbeatSampler
from edge.transport.lane import Lane
from edge.transport.mqtt import LinkHealth, MqttLink, MqttSettings
from edge.transport.outbox import Kind, Outbox, OutboxSettings
from edge.transport.sender import Sender, SenderSettings
from edge.transport.spool import enqueue_record
from sightline.backoff import BackoffSettings
from sightline.device.v1 import event_pb2, metrics_pb2, status_pb2
from sightline.device.v1.topics import DeviceTopics, Upstream
from tests.edge.transport.fake_ingest import TOKEN, FakeIngest, create_server, uplink_to
from tests.edge.transport.tcp_proxy import TcpProxy
from tests.integration.mqtt_session import BrokerSession
from tests.services.contract import MqttBroker

pytestmark = pytest.mark.integration

QUICK = BackoffSettings(initial_s=0.1, max_s=0.5)
HEARTBEAT_S = 0.5
WAIT_S = 10.0


def describe() -> status_pb2.DeviceStatus:
    return status_pb2.DeviceStatus(agent_version="0.1.0-test", hardware_profile="x86-cpu")


@dataclass
class Device:
    """A running edge transport: link (+ heartbeat) and record/crop senders on one stop event."""

    link: MqttLink
    sender: Sender
    outbox: Outbox
    device_id: str
    stop: threading.Event

    def event(self, name: str) -> None:
        enqueue_record(self.outbox, self.device_id, event(name))
        self.sender.wake()

    def shutdown(self) -> None:
        self.stop.set()
        self.sender.wake()
        self.link.join(timeout=WAIT_S)
        self.sender.join(timeout=WAIT_S)


def event(name: str) -> event_pb2.Event:
    return event_pb2.Event(name=name, severity=event_pb2.EVENT_SEVERITY_INFO)


@pytest.fixture
def topics(mqtt_broker: MqttBroker, mqtt_site: str) -> DeviceTopics:
    # The ACL confines a device account to the topics whose device segment is its username.
    return DeviceTopics(mqtt_broker.topic_prefix, mqtt_site, mqtt_broker.device.username)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(OutboxSettings(path=tmp_path / "outbox.sqlite3")) as opened:
        yield opened


@pytest.fixture
def proxy(mqtt_broker: MqttBroker) -> Iterator[TcpProxy]:
    with TcpProxy((mqtt_broker.host, mqtt_broker.port)) as started:
        yield started


@pytest.fixture
def ingest() -> Iterator[tuple[FakeIngest, int]]:
    servicer = FakeIngest()
    server, port = create_server(servicer)
    yield servicer, port
    server.stop(grace=None)


@pytest.fixture
def observer(mqtt_broker: MqttBroker, mqtt_site: str) -> Iterator[BrokerSession]:
    """An admin session subscribed to everything of this test's site."""
    with BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-observer") as session:
        assert not session.subscribe(f"{mqtt_broker.topic_prefix}/v1/{mqtt_site}/#").is_failure
        yield session


@pytest.fixture
def device(
    mqtt_broker: MqttBroker,
    topics: DeviceTopics,
    outbox: Outbox,
    ingest: tuple[FakeIngest, int],
) -> Iterator[Callable[..., Device]]:
    """Starts a device: MQTT link (device credentials, heartbeat) and the gRPC senders."""
    started: list[Device] = []
    uplinks = []

    def start(
        *, port: int | None = None, password: str | None = None, token: str = TOKEN
    ) -> Device:
        settings = MqttSettings(
            host=mqtt_broker.host,
            port=port or mqtt_broker.port,
            password=SecretStr(password or mqtt_broker.device.password),
            topic_prefix=mqtt_broker.topic_prefix,
            keepalive_s=5,
            session_expiry_s=0,
            reconnect=QUICK,
            heartbeat_s=HEARTBEAT_S,
        )
        stop = threading.Event()
        uplink = uplink_to(ingest[1], token=token)
        uplinks.append(uplink)
        lanes: dict[Kind, Lane] = {"record": uplink.records, "crop": uplink.crops}
        sender = Sender(outbox, lanes, stop, SenderSettings(idle_poll_s=0.05, backoff=QUICK))
        heartbeat = HeartbeatSampler(outbox, sender, tracks_interrupted=lambda: 2)
        link = MqttLink(settings, topics, outbox, describe, stop, heartbeat)
        link.start()
        sender.start()
        running = Device(link, sender, outbox, topics.device, stop)
        started.append(running)
        return running

    yield start
    for running in started:
        running.shutdown()
    for uplink in uplinks:
        uplink.close()


def next_on(session: BrokerSession, topic: str) -> mqtt.MQTTMessage:
    """The next message the session gets on `topic` (others are skipped)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            message = session.next_message()
        except queue.Empty:
            continue
        if message.topic == topic:
            return message
    raise AssertionError(f"nothing arrived on {topic} within {WAIT_S}s")


def status_of(message: mqtt.MQTTMessage) -> status_pb2.DeviceStatus:
    return status_pb2.DeviceStatus.FromString(bytes(message.payload))


def metrics_of(message: mqtt.MQTTMessage) -> metrics_pb2.Metrics:
    return metrics_pb2.Metrics.FromString(bytes(message.payload))


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_birth_comes_first_then_heartbeats_with_the_lanes(
    device: Callable[..., Device],
    observer: BrokerSession,
    topics: DeviceTopics,
    mqtt_broker: MqttBroker,
    mqtt_site: str,
) -> None:
    edge = device()
    first = observer.next_message()
    assert first.topic == topics.status
    birth = status_of(first)
    assert birth.state == status_pb2.DEVICE_STATE_ONLINE
    assert (birth.agent_version, birth.hardware_profile) == ("0.1.0-test", "x86-cpu")
    assert birth.key.device_id == mqtt_broker.device.username
    beat = next_on(observer, topics.upstream(Upstream.METRICS))
    assert not beat.retain  # the latest sample matters only while the device is there
    metrics = metrics_of(beat)
    assert metrics.session_seq == birth.session_seq
    assert metrics.key.device_id == mqtt_broker.device.username
    assert [lane.kind for lane in metrics.lanes] == ["record", "crop"]
    assert metrics.tracks_interrupted_total == 2
    assert metrics.disk_free_bytes > 0
    # One every heartbeat_s.
    later = metrics_of(next_on(observer, topics.upstream(Upstream.METRICS)))
    gap = later.time.ToDatetime().timestamp() - metrics.time.ToDatetime().timestamp()
    assert HEARTBEAT_S * 0.8 < gap < HEARTBEAT_S * 3
    assert edge.link.health is LinkHealth.CONNECTED
    # The birth is retained: a subscriber that comes later still learns the device is online.
    with BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-late") as late:
        late.subscribe(topics.status)
        retained = late.next_message()
    assert retained.retain
    assert status_of(retained) == birth


def test_records_never_travel_over_mqtt(
    device: Callable[..., Device],
    observer: BrokerSession,
    topics: DeviceTopics,
    ingest: tuple[FakeIngest, int],
) -> None:
    edge = device()
    next_on(observer, topics.status)
    for name in ("camera.connected", "model.loaded"):
        edge.event(name)
    wait_until(lambda: edge.outbox.depth() == 0)
    server, _ = ingest
    assert len(server.records) == 2
    deadline = time.monotonic() + 2 * HEARTBEAT_S
    while time.monotonic() < deadline:
        try:
            message = observer.messages.get(timeout=0.1)
        except queue.Empty:
            continue
        assert message.topic.rsplit("/", 1)[1] in {"status", "metrics"}, message.topic


def test_the_will_announces_a_dead_connection_with_the_births_session(
    proxy: TcpProxy,
    device: Callable[..., Device],
    observer: BrokerSession,
    topics: DeviceTopics,
) -> None:
    edge = device(port=proxy.port)
    birth = status_of(next_on(observer, topics.status))
    proxy.cut()  # the network dies: no DISCONNECT reaches the broker
    will = status_of(next_on(observer, topics.status))
    assert will.state == status_pb2.DEVICE_STATE_OFFLINE
    assert will.session_seq == birth.session_seq
    assert will.key.seq != birth.key.seq  # a distinct upstream message
    # The link reconnects on its own, under a newer session the cloud can tell apart.
    rebirth = status_of(next_on(observer, topics.status))
    assert rebirth.state == status_pb2.DEVICE_STATE_ONLINE
    assert rebirth.session_seq > birth.session_seq
    assert edge.link.wait_connected(WAIT_S)


def test_records_flow_while_the_broker_is_down_and_the_heartbeat_returns_with_it(
    proxy: TcpProxy,
    device: Callable[..., Device],
    observer: BrokerSession,
    topics: DeviceTopics,
    ingest: tuple[FakeIngest, int],
) -> None:
    edge = device(port=proxy.port)
    next_on(observer, topics.status)
    proxy.stop()  # broker unreachable: connection gone, reconnects refused
    wait_until(lambda: edge.link.health is LinkHealth.DISCONNECTED)
    for seq in range(5):
        edge.event(f"during.outage.{seq}")
    # Records do not wait for the broker: they go to the ingest server, acked per record.
    wait_until(lambda: edge.outbox.depth() == 0)
    server, _ = ingest
    names = sorted(
        request.event.name for request in server.records.values() if request.HasField("event")
    )
    assert names == [f"during.outage.{seq}" for seq in range(5)]
    proxy.start()
    assert edge.link.wait_connected(WAIT_S)
    rebirth = status_of(next_on(observer, topics.status))
    if rebirth.state == status_pb2.DEVICE_STATE_OFFLINE:  # the will of the cut connection
        rebirth = status_of(next_on(observer, topics.status))
    assert rebirth.state == status_pb2.DEVICE_STATE_ONLINE
    metrics = metrics_of(next_on(observer, topics.upstream(Upstream.METRICS)))
    assert metrics.session_seq == rebirth.session_seq
    record_lane = metrics.lanes[0]
    assert (record_lane.kind, record_lane.rows, record_lane.delivered_total) == ("record", 0, 5)
    assert record_lane.error == ""


def test_the_heartbeat_reports_a_lane_stopped_by_a_revoked_token(
    device: Callable[..., Device],
    observer: BrokerSession,
    topics: DeviceTopics,
) -> None:
    edge = device(token="revoked-token")
    edge.event("camera.connected")
    wait_until(lambda: "record" in edge.sender.failures())
    metrics = metrics_of(next_on(observer, topics.upstream(Upstream.METRICS)))
    deadline = time.monotonic() + WAIT_S
    while "UNAUTHENTICATED" not in metrics.lanes[0].error:  # a sample from before the failure
        assert time.monotonic() < deadline
        metrics = metrics_of(next_on(observer, topics.upstream(Upstream.METRICS)))
    assert metrics.lanes[0].rows == 1  # kept, not lost
    assert metrics.outbox_rows == 1
    assert edge.link.health is LinkHealth.CONNECTED  # the device stays visible


def test_a_wrong_password_stops_the_link_with_a_permanent_error(
    device: Callable[..., Device], mqtt_broker: MqttBroker
) -> None:
    edge = device(password=mqtt_broker.device.password + "-wrong")
    # Mosquitto 2.0 answers a wrong password with "Not authorized" (0x87), others 0x86.
    with pytest.raises(
        TransportError, match=r"Not authorized|Bad user name or password"
    ) as refused:
        edge.link.wait_connected(WAIT_S)
    assert refused.value.permanent
    edge.link.join(timeout=WAIT_S)  # the supervisor gave up by itself: no stop needed
    assert edge.link.health is LinkHealth.FAILED
    assert edge.link.error is refused.value


def test_a_clean_stop_publishes_offline_itself(
    device: Callable[..., Device],
    observer: BrokerSession,
    topics: DeviceTopics,
    mqtt_broker: MqttBroker,
    mqtt_site: str,
) -> None:
    edge = device()
    birth = status_of(next_on(observer, topics.status))
    edge.shutdown()
    goodbye = status_of(next_on(observer, topics.status))
    assert goodbye.state == status_pb2.DEVICE_STATE_OFFLINE
    assert goodbye.session_seq == birth.session_seq
    assert edge.link.health is LinkHealth.STOPPED
    with BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-late") as late:
        late.subscribe(topics.status)
        assert status_of(late.next_message()) == goodbye
    # No will follows a clean disconnect, and no heartbeat after the goodbye.
    with pytest.raises(queue.Empty):
        observer.messages.get(timeout=2 * HEARTBEAT_S)
