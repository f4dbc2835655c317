"""MqttLink without a real broker: settings, PUBACK matching, TLS, the heartbeat, and CONNACK
refusals, against a scripted broker on a raw socket.

The full behaviour against Mosquitto (birth, will, outage) is in
tests/integration/test_edge_transport_mqtt.py.
"""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr, ValidationError

from edge.errors import TransportError
from edge.transport.mqtt import LinkHealth, MqttLink, MqttSettings
from edge.transport.outbox import Outbox
from edge.transport.puback import PublishTracker
from sightline.backoff import BackoffSettings
from sightline.device.v1 import metrics_pb2, status_pb2
from sightline.device.v1.topics import DeviceTopics
from tests.edge.transport.certs import TestCa
from tests.edge.transport.scripted_broker import Published, ScriptedBroker

TOPICS = DeviceTopics(prefix="sightline", site="lobby", device="box-1")
QUICK = BackoffSettings(initial_s=0.05, max_s=0.1)
WAIT_S = 5.0


def describe() -> status_pb2.DeviceStatus:
    return status_pb2.DeviceStatus(agent_version="0.1.0", hardware_profile="x86-cpu")


def link_to(
    port: int,
    outbox: Outbox,
    stop: threading.Event,
    heartbeat: metrics_pb2.Metrics | None = None,
    **settings: object,
) -> MqttLink:
    fields: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "password": SecretStr("pw"),
        "reconnect": QUICK,
        "session_expiry_s": 0,
        **settings,
    }
    sample = (lambda: metrics_pb2.Metrics(outbox_rows=7)) if heartbeat is None else None
    return MqttLink(MqttSettings.model_validate(fields), TOPICS, outbox, describe, stop, sample)


def next_published(broker: ScriptedBroker) -> Published:
    return broker.published.get(timeout=WAIT_S)


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


# Settings --------------------------------------------------------------------------------------


def test_settings_default_the_port_from_tls() -> None:
    # The rule itself is sightline.tls's (tests/protos/test_tls.py).
    assert MqttSettings(host="broker.example.com").broker_port == 8883
    assert MqttSettings(host="127.0.0.1").broker_port == 1883
    assert MqttSettings(host="b", tls=False).broker_port == 1883
    assert MqttSettings(host="b", tls=True, port=9000).broker_port == 9000
    assert MqttSettings(host="b").heartbeat_s == 10.0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"keep_alive": 3}, "Extra inputs are not permitted"),
        ({"ack_timeout_s": 3}, "Extra inputs are not permitted"),
        ({"topic_prefix": "a/+"}, r"topic prefix level '\+' must not contain"),
        ({"ca_file": __file__, "tls": False}, "ca_file set but tls is false"),
        ({"ca_file": "/nonexistent/ca.pem", "tls": True}, "Path does not point to a file"),
        ({"cert_file": __file__, "tls": True}, "cert_file and key_file go together"),
        ({"protocol": "mqttv31"}, "mqttv5"),
        ({"heartbeat_s": 0}, "greater than 0"),
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


# PUBACK matching (review finding: stale PUBACKs) -----------------------------------------------

SUCCESS = ReasonCode(PacketTypes.PUBACK, identifier=0)


def scripted(mid: int, accepted: bool = True) -> tuple[bool, int]:
    return accepted, mid


def test_a_stale_puback_never_confirms_a_later_publish_that_reuses_its_packet_id() -> None:
    tracker = PublishTracker()
    first = tracker.publish(lambda: scripted(7), "status")
    assert first is not None
    assert tracker.wait(first, 0.05) is None  # its wait timed out: given up on
    # paho hands out packet id 7 again (round-robin, it does not check what is in flight)...
    second = tracker.publish(lambda: scripted(7), "metrics")
    assert second is not None
    # ...and only now the first publish's PUBACK arrives: it is the first's, not the second's.
    assert tracker.acked(7, SUCCESS) is first
    assert tracker.wait(second, 0.05) is None
    assert tracker.acked(7, SUCCESS) is second  # its own ack
    assert tracker.wait(second, 0.05) == SUCCESS


def test_an_ack_nobody_waited_for_never_confirms_a_later_publish() -> None:
    tracker = PublishTracker()
    assert tracker.acked(9, SUCCESS) is None  # for a publish that is not (or no longer) tracked
    later = tracker.publish(lambda: scripted(9), "status")
    assert later is not None
    assert tracker.wait(later, 0.05) is None


def test_an_ack_that_beats_its_registration_still_counts() -> None:
    tracker = PublishTracker()

    def send_and_get_acked_at_once() -> tuple[bool, int]:
        # paho's network thread can read the PUBACK before publish() returns.
        tracker.acked(3, SUCCESS)
        return True, 3

    published = tracker.publish(send_and_get_acked_at_once, "status")
    assert published is not None
    assert tracker.wait(published, 0.05) == SUCCESS


def test_a_refused_publish_is_not_tracked_and_an_ended_connection_wakes_waiters() -> None:
    tracker = PublishTracker()
    assert tracker.publish(lambda: scripted(1, accepted=False), "status") is None
    waiting = tracker.publish(lambda: scripted(2), "status")
    assert waiting is not None
    threading.Timer(0.05, tracker.end).start()
    assert tracker.wait(waiting, WAIT_S) is None


# Connecting, birth and heartbeat ---------------------------------------------------------------


def test_birth_first_then_a_heartbeat_every_heartbeat_s(
    outbox: Outbox, stop: threading.Event
) -> None:
    with ScriptedBroker() as broker:
        link = link_to(broker.port, outbox, stop, heartbeat_s=0.3)
        link.start()
        assert link.wait_connected(WAIT_S)
        birth = next_published(broker)
        assert (birth.topic, birth.retain) == ("sightline/v1/lobby/box-1/status", True)
        status = status_pb2.DeviceStatus.FromString(birth.payload)
        assert status.state == status_pb2.DEVICE_STATE_ONLINE
        beats = [next_published(broker) for _ in range(3)]
        assert {(b.topic, b.retain) for b in beats} == {("sightline/v1/lobby/box-1/metrics", False)}
        samples = [metrics_pb2.Metrics.FromString(b.payload) for b in beats]
        assert [m.outbox_rows for m in samples] == [7, 7, 7]
        assert {m.session_seq for m in samples} == {status.session_seq}
        assert {m.key.device_id for m in samples} == {"box-1"}
        seqs = [m.key.seq for m in samples]
        assert seqs == sorted(seqs) and seqs[0] > status.key.seq  # fresh keys, never repeated
        times = [m.time.ToDatetime().timestamp() for m in samples]
        assert 0.2 < times[2] - times[1] < 1.0
        stop.set()
        link.join(WAIT_S)
        goodbye = next_published(broker)
        assert status_pb2.DeviceStatus.FromString(goodbye.payload).state == (
            status_pb2.DEVICE_STATE_OFFLINE
        )
    assert link.health is LinkHealth.STOPPED


def test_a_heartbeat_the_broker_denies_stops_the_link_for_good(
    outbox: Outbox, stop: threading.Event
) -> None:
    with ScriptedBroker(puback=0x87) as broker:  # Not authorized (ACL)
        link = link_to(broker.port, outbox, stop)
        link.start()
        link.join(WAIT_S)  # the supervisor gives up by itself
        assert link.health is LinkHealth.FAILED
        assert link.error is not None
        assert link.error.permanent
        assert "broker denied publishing status" in str(link.error)


def test_a_failing_sampler_skips_the_beat_and_keeps_the_connection(
    outbox: Outbox, stop: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> metrics_pb2.Metrics:
        raise RuntimeError("bug in a sampler")

    with ScriptedBroker() as broker:
        settings = MqttSettings(host="127.0.0.1", port=broker.port, heartbeat_s=0.1)
        link = MqttLink(settings, TOPICS, outbox, describe, stop, broken)
        link.start()
        assert link.wait_connected(WAIT_S)
        next_published(broker)  # the birth
        with pytest.raises(queue.Empty):
            broker.published.get(timeout=0.5)
        assert link.health is LinkHealth.CONNECTED
        assert "heartbeat sample failed" in caplog.text


# TLS -------------------------------------------------------------------------------------------


def server_context(ca: TestCa, *, require_client_cert: bool) -> ssl.SSLContext:
    server = ca.issue("broker", "broker", server=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server.cert, server.key)
    if require_client_cert:
        context.load_verify_locations(ca.cert_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def test_mutual_tls_presents_the_client_certificate(
    tmp_path: Path, outbox: Outbox, stop: threading.Event
) -> None:
    ca = TestCa(tmp_path / "pki")
    device = ca.issue("box-1", "box-1", server=False)
    tls = {"tls": True, "ca_file": ca.cert_file, "cert_file": device.cert, "key_file": device.key}
    with ScriptedBroker(tls=server_context(ca, require_client_cert=True)) as broker:
        link = link_to(broker.port, outbox, stop, **tls)
        link.start()
        assert link.wait_connected(WAIT_S)
        assert broker.peer_names == ["box-1"]
        assert next_published(broker).topic.endswith("/status")


# paho 2.2 drops the socket of a failed TLS handshake without closing it (a local variable in
# Client._ssl_wrap_socket); CPython closes it when the exception is cleared, with a warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_tls_refuses_a_broker_the_ca_file_does_not_vouch_for(
    tmp_path: Path, outbox: Outbox, stop: threading.Event
) -> None:
    broker_ca = TestCa(tmp_path / "pki")
    other = TestCa(tmp_path / "other", "Another CA")
    with ScriptedBroker(tls=server_context(broker_ca, require_client_cert=False)) as broker:
        link = link_to(broker.port, outbox, stop, tls=True, ca_file=other.cert_file)
        link.start()
        assert not link.wait_connected(1.0)
        assert broker.connects == 0  # the handshake failed: nothing was said
        assert link.error is None  # retried: a certificate can be renewed on the broker


# Refusals --------------------------------------------------------------------------------------


def test_a_bad_password_is_terminal_and_surfaced(outbox: Outbox, stop: threading.Event) -> None:
    with ScriptedBroker(connack=0x86) as broker:  # Bad user name or password
        link = link_to(broker.port, outbox, stop)
        link.start()
        with pytest.raises(TransportError, match="Bad user name or password") as refused:
            link.wait_connected(timeout=WAIT_S)
        assert refused.value.permanent
        link.join(timeout=WAIT_S)
        assert link.health is LinkHealth.FAILED
        assert link.error is refused.value
        assert broker.connects == 1  # never retried


def test_a_busy_broker_is_retried_with_backoff(outbox: Outbox, stop: threading.Event) -> None:
    with ScriptedBroker(connack=0x89) as broker:  # Server busy
        link = link_to(broker.port, outbox, stop)
        link.start()
        assert not link.wait_connected(timeout=1.0)
        assert link.error is None
        assert broker.connects >= 3
        # Every attempt announces itself as the device (client id = device id).
        assert all(b"box-1" in connect for connect in broker.client_ids)
        stop.set()
        link.join(timeout=WAIT_S)
    assert link.health is LinkHealth.STOPPED


def test_an_unreachable_broker_is_retried_until_stop(outbox: Outbox) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    stop = threading.Event()
    first_session = outbox.next_seq("box-1", "session")
    link = link_to(closed_port, outbox, stop)
    link.start()
    assert not link.wait_connected(timeout=0.5)
    assert link.health.name == "STARTING"  # never connected (by name: mypy narrows `is`)
    stop.set()
    link.join(timeout=5)
    assert link.health is LinkHealth.STOPPED
    # Each attempt took a new session number for its birth and will.
    assert outbox.next_seq("box-1", "session") > first_session + 3
