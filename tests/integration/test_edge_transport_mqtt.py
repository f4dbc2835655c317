"""The edge MQTT link against the real Mosquitto: birth/will, outages, auth.

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
from edge.transport.mqtt import LinkHealth, MqttLink, MqttSettings
from edge.transport.outbox import Outbox, OutboxSettings
from edge.transport.sender import Sender, SenderSettings
from edge.transport.spool import enqueue
from sightline.backoff import BackoffSettings
from sightline.device.v1 import event_pb2, status_pb2
from sightline.device.v1.topics import DeviceTopics, Upstream
from tests.edge.transport.tcp_proxy import TcpProxy
from tests.integration.mqtt_session import BrokerSession
from tests.services.contract import MqttBroker

pytestmark = pytest.mark.integration

QUICK = BackoffSettings(initial_s=0.1, max_s=0.5)
WAIT_S = 10.0


def describe() -> status_pb2.DeviceStatus:
    return status_pb2.DeviceStatus(agent_version="0.1.0-test", hardware_profile="x86-cpu")


@dataclass
class Device:
    """A running edge transport: link + sender on one stop event, and its outbox."""

    link: MqttLink
    sender: Sender
    outbox: Outbox
    topics: DeviceTopics
    stop: threading.Event

    def event(self, name: str) -> None:
        enqueue(self.outbox, self.topics, self.topics.upstream(Upstream.EVENTS), event(name))
        self.sender.wake()

    def shutdown(self) -> None:
        self.stop.set()
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
def observer(mqtt_broker: MqttBroker, mqtt_site: str) -> Iterator[BrokerSession]:
    """An admin session subscribed to everything of this test's site."""
    with BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-observer") as session:
        assert not session.subscribe(f"{mqtt_broker.topic_prefix}/v1/{mqtt_site}/#").is_failure
        yield session


@pytest.fixture
def device(
    mqtt_broker: MqttBroker, topics: DeviceTopics, outbox: Outbox
) -> Iterator[Callable[..., Device]]:
    """Starts a device link (device credentials) with a sender; stopped after the test."""
    started: list[Device] = []

    def start(
        *,
        port: int | None = None,
        password: str | None = None,
    ) -> Device:
        settings = MqttSettings(
            host=mqtt_broker.host,
            port=port or mqtt_broker.port,
            password=SecretStr(password or mqtt_broker.device.password),
            topic_prefix=mqtt_broker.topic_prefix,
            keepalive_s=5,
            session_expiry_s=0,
            reconnect=QUICK,
        )
        stop = threading.Event()
        link = MqttLink(settings, topics, outbox, describe, stop)
        sender = Sender(
            outbox, {"mqtt": link}, stop, SenderSettings(idle_poll_s=0.05, backoff=QUICK)
        )
        link.add_ready_listener(lambda: sender.wake("mqtt"))
        link.start()
        sender.start()
        running = Device(link, sender, outbox, topics, stop)
        started.append(running)
        return running

    yield start
    for running in started:
        running.shutdown()


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
    return status_pb2.DeviceStatus.FromString(payload(message))


def payload(message: mqtt.MQTTMessage) -> bytes:
    return bytes(message.payload)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_birth_comes_first_then_the_spooled_messages_in_order(
    device: Callable[..., Device],
    observer: BrokerSession,
    topics: DeviceTopics,
    outbox: Outbox,
    mqtt_broker: MqttBroker,
    mqtt_site: str,
) -> None:
    # Spooled before the link exists: the agent produced data while starting up.
    for name in ("camera.connected", "model.loaded", "camera.disconnected"):
        enqueue(outbox, topics, topics.upstream(Upstream.EVENTS), event(name))
    edge = device()
    first = observer.next_message()
    assert first.topic == topics.status
    birth = status_of(first)
    assert birth.state == status_pb2.DEVICE_STATE_ONLINE
    assert (birth.agent_version, birth.hardware_profile) == ("0.1.0-test", "x86-cpu")
    assert birth.key.device_id == mqtt_broker.device.username
    events = [event_pb2.Event.FromString(payload(observer.next_message())) for _ in range(3)]
    assert [e.name for e in events] == ["camera.connected", "model.loaded", "camera.disconnected"]
    assert [e.key.seq for e in events] == sorted(e.key.seq for e in events)
    wait_until(lambda: outbox.depth() == 0)
    assert edge.sender.counters()["mqtt"].acked == 3
    # The birth is retained: a subscriber that comes later still learns the device is online.
    with BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-late") as late:
        late.subscribe(topics.status)
        retained = late.next_message()
    assert retained.retain
    assert status_of(retained) == birth


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


def test_messages_spooled_while_the_broker_is_down_arrive_after_reconnect(
    proxy: TcpProxy,
    device: Callable[..., Device],
    observer: BrokerSession,
    topics: DeviceTopics,
    outbox: Outbox,
) -> None:
    edge = device(port=proxy.port)
    next_on(observer, topics.status)
    proxy.stop()  # broker unreachable: connection gone, reconnects refused
    wait_until(lambda: edge.link.health is LinkHealth.DISCONNECTED)
    for seq in range(5):
        edge.event(f"during.outage.{seq}")
    time.sleep(1.0)  # several reconnect attempts and sender polls
    assert outbox.depth("mqtt") == 5  # kept, not dropped, not lost in a client queue
    assert outbox.dropped()["mqtt"] == 0
    proxy.start()
    assert edge.link.wait_connected(WAIT_S)
    events_topic = topics.upstream(Upstream.EVENTS)
    arrived = [
        event_pb2.Event.FromString(payload(next_on(observer, events_topic))) for _ in range(5)
    ]
    assert [e.name for e in arrived] == [f"during.outage.{seq}" for seq in range(5)]
    wait_until(lambda: outbox.depth() == 0)


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
    # No will follows a clean disconnect.
    with pytest.raises(queue.Empty):
        observer.messages.get(timeout=1.0)
