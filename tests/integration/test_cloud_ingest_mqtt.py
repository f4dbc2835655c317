"""`python -m cloud mqtt_bridge` on real Mosquitto and PostgreSQL, fed by a device account.

The device publishes as an edge agent does: a retained birth message, a last will registered at
connect, heartbeats at QoS 1. The bridge runs as deployed, on this test's own database and MQTT
site.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, LiteralString

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from sightline.device.v1 import key_pb2, metrics_pb2, status_pb2
from tests.cloud.ingest.processes import (
    Background,
    bridge_variables,
    cloud_command,
    cloud_env,
    run_cloud,
)
from tests.edge.transport.tcp_proxy import TcpProxy
from tests.services.contract import MqttBroker

pytestmark = pytest.mark.integration

SESSION = 7
CONNECTED = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
STATUS = "SELECT status, status_seq, agent_version FROM fleet_device WHERE id = %s"


def status(
    device_id: str,
    state: status_pb2.DeviceState,
    seq: int,
    *,
    session: int = SESSION,
    version: str = "0.3.1",
) -> bytes:
    message = status_pb2.DeviceStatus(
        key=key_pb2.MessageKey(device_id=device_id, seq=seq),
        state=state,
        session_seq=session,
        agent_version=version,
        hardware_profile="x86-cpu",
    )
    message.time.FromDatetime(CONNECTED)
    return message.SerializeToString()


def heartbeat(device_id: str, seq: int, *lanes: metrics_pb2.LaneMetrics, **fields: Any) -> bytes:
    message = metrics_pb2.Metrics(
        key=key_pb2.MessageKey(device_id=device_id, seq=seq),
        session_seq=SESSION,
        lanes=lanes,
        **fields,
    )
    message.time.FromDatetime(CONNECTED)
    return message.SerializeToString()


HEALTH = "SELECT seq, outbox_rows FROM fleet_devicehealth"


class Device:
    """An edge agent's MQTT session: device account, MQTT 5, last will on its status topic."""

    def __init__(self, broker: MqttBroker, site: str) -> None:
        self.id = broker.device.username
        self.base = f"{broker.topic_prefix}/v1/{site}/{self.id}"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            # The broker binds the device account to its id as client id.
            client_id=self.id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        self._client.username_pw_set(broker.device.username, broker.device.password)
        will = status(self.id, status_pb2.DEVICE_STATE_OFFLINE, seq=2)
        self._client.will_set(f"{self.base}/status", will, qos=1, retain=True)
        connected = threading.Event()
        self._client.on_connect = lambda *_args: connected.set()
        self._client.connect(broker.host, broker.port, keepalive=30)
        self._client.loop_start()
        assert connected.wait(10), "no CONNACK"

    def publish(self, leaf: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        info = self._client.publish(f"{self.base}/{leaf}", payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def vanish(self) -> None:
        """Drop the connection so that the broker publishes the last will."""
        # MQTT 5.0 section 3.14.2.1: reason 0x04 asks the broker to send the will, as it would
        # after a lost connection, without waiting for the keep-alive to expire.
        self._client.disconnect(ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        self._client.loop_stop()


@pytest.fixture
def env(migrated_postgres_database: str, mqtt_broker: MqttBroker, mqtt_site: str) -> dict[str, str]:
    env = cloud_env(
        {
            "SIGHTLINE_CLOUD_DATABASE_URL": migrated_postgres_database,
            **bridge_variables(mqtt_broker, mqtt_site),
        }
    )
    run_cloud(env, "provision_device", mqtt_broker.device.username, "--hardware", "x86-cpu")
    return env


def poll(
    database_url: str, query: LiteralString, expected: Any, *params: str, timeout_s: float = 20.0
) -> None:
    """Wait until `query` returns `expected` rows."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            rows = conn.execute(query, params).fetchall()
            if rows == expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert rows == expected


def test_the_bridge_records_birth_heartbeats_and_last_will(
    env: dict[str, str], mqtt_broker: MqttBroker, mqtt_site: str, tmp_path: Path
) -> None:
    database = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    device = Device(mqtt_broker, mqtt_site)
    # Retained: the bridge, started afterwards, still learns that the device is online.
    device.publish("status", status(device.id, status_pb2.DEVICE_STATE_ONLINE, seq=1), retain=True)
    bridge = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    try:
        bridge.wait_for("connected to the broker")
        poll(database, STATUS, [("online", SESSION, "0.3.1")], device.id)

        device.publish("metrics", b"\x0a\xff not protobuf")
        lane = metrics_pb2.LaneMetrics(kind="crop", rows=3, dropped_total=2, dead_letters_total=1)
        device.publish("metrics", heartbeat(device.id, 3, lane, outbox_rows=3))
        device.publish("metrics", heartbeat(device.id, 3, lane, outbox_rows=3))  # redelivered
        poll(database, HEALTH, [(3, 3)])
        poll(
            database,
            "SELECT lanes->0->>'dead_letters_total' FROM fleet_devicehealth",
            [("1",)],
        )
        assert "dropped the message on " + f"{device.base}/metrics" in bridge.output()

        device.vanish()
        poll(database, STATUS, [("offline", SESSION, "0.3.1")], device.id)
    finally:
        exit_status = bridge.stop()
    assert exit_status == 0, bridge.output()


def test_messages_the_database_would_refuse_stall_nothing(
    env: dict[str, str], mqtt_broker: MqttBroker, mqtt_site: str, tmp_path: Path
) -> None:
    # Before, the bridge retried a database error forever without acknowledging: a NUL in a
    # text or a counter beyond a bigint stopped every later message, also across restarts.
    database = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    device = Device(mqtt_broker, mqtt_site)
    online = status_pb2.DEVICE_STATE_ONLINE
    hostile = [
        ("status", status(device.id, online, seq=10, session=8, version="0.3\x00")),
        ("status", status(device.id, online, seq=11, session=2**63)),
        ("status", status(device.id, online, seq=12, session=2**64 - 1)),
        ("status", status(device.id, online, seq=13, session=8, version="9" * 65)),
        ("metrics", heartbeat(device.id, 2**63)),
        ("metrics", heartbeat(device.id, 14, outbox_bytes=2**64 - 1)),
        ("metrics", heartbeat(device.id, 15, disk_free_bytes=2**63)),
        ("metrics", heartbeat(device.id, 16, metrics_pb2.LaneMetrics(kind="crop", error="\x00"))),
        ("metrics", heartbeat(device.id, 17, metrics_pb2.LaneMetrics(kind="c\x00"))),
    ]
    bridge = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    try:
        bridge.wait_for("connected to the broker")
        for leaf, payload in hostile:
            device.publish(leaf, payload)
        device.publish("status", status(device.id, online, seq=20, session=9))
        device.publish("metrics", heartbeat(device.id, 21, outbox_rows=5))
        poll(database, STATUS, [("online", 9, "0.3.1")], device.id)
        poll(database, HEALTH, [(21, 5)])
        assert bridge.output().count("dropped the message on ") == len(hostile)
    finally:
        exit_status = bridge.stop()
    assert exit_status == 0, bridge.output()


def test_the_bridge_stops_when_the_broker_refuses_its_login(
    env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "SIGHTLINE_CLOUD_MQTT_PASSWORD": "wrong"}
    bridge = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    try:
        assert bridge.exit_status() == 1
    finally:
        bridge.stop()
    assert "refused the login" in bridge.output()


def test_the_bridge_reconnects_by_itself_and_gets_what_was_queued_meanwhile(
    env: dict[str, str], mqtt_broker: MqttBroker, mqtt_site: str, tmp_path: Path
) -> None:
    database = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    device = Device(mqtt_broker, mqtt_site)
    with TcpProxy((mqtt_broker.host, mqtt_broker.port)) as proxy:
        env = {**env, "SIGHTLINE_CLOUD_MQTT_PORT": str(proxy.port)}
        bridge = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
        try:
            bridge.wait_for("connected to the broker")
            device.publish("metrics", heartbeat(device.id, 3, outbox_rows=30))
            poll(database, HEALTH, [(3, 30)])

            proxy.stop()  # the bridge's network dies; the broker keeps its session
            bridge.wait_for("reconnecting to the broker in")
            device.publish("metrics", heartbeat(device.id, 4, outbox_rows=40))
            proxy.start()
            poll(database, HEALTH, [(4, 40)])
            assert len(re.findall("connected to the broker;", bridge.output())) == 2
        finally:
            exit_status = bridge.stop()
    assert exit_status == 0, bridge.output()
