"""MqttLink without a real broker: settings, spooling, and CONNACK refusals from a raw socket.

The full behaviour against Mosquitto (birth, will, outage) is in
tests/integration/test_edge_transport_mqtt.py.
"""

from __future__ import annotations

import socket
import threading

import pytest
from pydantic import SecretStr, ValidationError

from edge.errors import TransportError
from edge.transport.lane import Outcome
from edge.transport.mqtt import LinkHealth, MqttLink, MqttSettings
from edge.transport.outbox import Outbox
from edge.transport.spool import enqueue
from sightline.backoff import BackoffSettings
from sightline.device.v1 import event_pb2, status_pb2
from sightline.device.v1.topics import DeviceTopics, Upstream

TOPICS = DeviceTopics(prefix="sightline", site="lobby", device="box-1")
QUICK = BackoffSettings(initial_s=0.05, max_s=0.1)


def describe() -> status_pb2.DeviceStatus:
    return status_pb2.DeviceStatus(agent_version="0.1.0", hardware_profile="x86-cpu")


class RefusingBroker:
    """Accepts TCP, reads the CONNECT, answers an MQTT 5 CONNACK with `reason`, hangs up."""

    def __init__(self, reason: int) -> None:
        self._reason = reason
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.connects = 0
        self.client_ids: list[bytes] = []
        self._running = True
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self._running:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                packet = conn.recv(4096)
                if packet[:1] == b"\x10":  # CONNECT
                    self.connects += 1
                    self.client_ids.append(packet)
                    # MQTT 5.0 section 3.2: CONNACK, flags 0, reason, no properties.
                    conn.sendall(bytes([0x20, 3, 0, self._reason, 0]))

    def close(self) -> None:
        self._running = False
        self._thread.join()
        self._listener.close()


def link_to(port: int, outbox: Outbox, stop: threading.Event) -> MqttLink:
    settings = MqttSettings(
        host="127.0.0.1", port=port, password=SecretStr("pw"), reconnect=QUICK, session_expiry_s=0
    )
    return MqttLink(settings, TOPICS, outbox, describe, stop)


# Settings --------------------------------------------------------------------------------------


def test_settings_default_the_port_from_tls() -> None:
    assert MqttSettings(host="b").broker_port == 1883
    assert MqttSettings(host="b", tls=True).broker_port == 8883
    assert MqttSettings(host="b", tls=True, port=9000).broker_port == 9000


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"keep_alive": 3}, "Extra inputs are not permitted"),
        ({"topic_prefix": "a/+"}, r"topic prefix level '\+' must not contain"),
        ({"ca_file": __file__}, "ca_file is set but tls is false"),
        ({"ca_file": "/nonexistent/ca.pem", "tls": True}, "Path does not point to a file"),
        ({"protocol": "mqttv31"}, "mqttv5"),
    ],
)
def test_settings_refuse_bad_values(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttSettings(host="b", **fields)  # type: ignore[arg-type]


def test_settings_hide_the_password() -> None:
    assert "hunter2" not in repr(MqttSettings(host="b", password=SecretStr("hunter2")))


def test_the_link_refuses_topics_under_another_prefix(outbox: Outbox) -> None:
    other = DeviceTopics(prefix="other", site="s", device="d")
    with pytest.raises(ValueError, match="disagree on the topic prefix"):
        MqttLink(MqttSettings(host="b"), other, outbox, describe, threading.Event())


# Lane ------------------------------------------------------------------------------------------


def test_a_disconnected_link_sends_nothing_and_keeps_everything(outbox: Outbox) -> None:
    enqueue(outbox, TOPICS, TOPICS.upstream(Upstream.EVENTS), event_pb2.Event(name="x"))
    link = MqttLink(MqttSettings(host="127.0.0.1"), TOPICS, outbox, describe, threading.Event())
    rows = outbox.peek("mqtt", 10)
    assert not link.ready()
    assert link.send_batch(rows).outcomes == {rows[0].id: Outcome.UNACKED}
    assert outbox.depth() == 1


# Connecting ------------------------------------------------------------------------------------


def test_a_bad_password_is_terminal_and_surfaced(outbox: Outbox) -> None:
    broker = RefusingBroker(reason=0x86)  # Bad user name or password
    stop = threading.Event()
    link = link_to(broker.port, outbox, stop)
    try:
        link.start()
        with pytest.raises(TransportError, match="Bad user name or password") as refused:
            link.wait_connected(timeout=5)
        assert refused.value.permanent
        link.join(timeout=5)
        assert link.health is LinkHealth.FAILED
        assert link.error is refused.value
        assert broker.connects == 1  # never retried
    finally:
        stop.set()
        link.join(timeout=5)
        broker.close()


def test_a_busy_broker_is_retried_with_backoff(outbox: Outbox) -> None:
    broker = RefusingBroker(reason=0x89)  # Server busy
    stop = threading.Event()
    link = link_to(broker.port, outbox, stop)
    try:
        link.start()
        assert not link.wait_connected(timeout=1.0)
        assert link.error is None
        assert broker.connects >= 3
        # Every attempt announces itself as the device (client id = device id).
        assert all(b"box-1" in connect for connect in broker.client_ids)
    finally:
        stop.set()
        link.join(timeout=5)
        broker.close()
    assert link.health is LinkHealth.STOPPED


def test_an_unreachable_broker_is_retried_until_stop(outbox: Outbox) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    stop = threading.Event()
    link = link_to(closed_port, outbox, stop)
    link.start()
    assert not link.wait_connected(timeout=0.5)
    assert link.health.name == "STARTING"  # never connected (by name: mypy narrows `is`)
    stop.set()
    link.join(timeout=5)
    assert link.health is LinkHealth.STOPPED
    # Each attempt took a new session number for its birth and will.
    assert outbox.next_seq("box-1", "session") > 3
