"""Transport security end to end, with certificates the tests make.

- The edge's `MqttLink` over the test broker's TLS listener, and over its mTLS listener with a
  client certificate issued from the broker's CA (refused without one).
- The cloud's bridge (`python -m cloud mqtt_bridge`) over the mTLS listener with its own client
  certificate (it never connects without one).
- The agent's gRPC uplink to `python -m cloud ingest_grpc` serving TLS, and mTLS with device
  certificates: a crop goes from the edge's outbox into PostgreSQL and S3.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from minio import Minio
from pydantic import SecretStr

from edge.transport.lane import Outcome
from edge.transport.mqtt import MqttLink, MqttSettings
from edge.transport.outbox import Outbox, OutboxSettings
from edge.transport.spool import enqueue_crop
from edge.transport.uplink import Uplink, UplinkSettings
from sightline.backoff import BackoffSettings
from sightline.device.v1 import status_pb2
from sightline.device.v1.topics import DeviceTopics
from tests.cloud.ingest.certificates import Authority
from tests.cloud.ingest.processes import (
    Background,
    bridge_variables,
    cloud_command,
    cloud_env,
    provision_devices,
    run_cloud,
)
from tests.cloud.ingest.uploads import crop_request
from tests.integration.mqtt_session import BrokerSession
from tests.services.contract import MqttBroker

pytestmark = pytest.mark.integration

QUICK = BackoffSettings(initial_s=0.1, max_s=0.5)
WAIT_S = 10.0
DEVICE = "gate-01"


@pytest.fixture
def broker_ca(mqtt_broker: MqttBroker) -> Authority:
    """The CA of the test broker's listeners, which signs the client certificates too."""
    return Authority.from_files(mqtt_broker.ca_file, mqtt_broker.ca_key_file)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(OutboxSettings(path=tmp_path / "outbox.sqlite3")) as opened:
        yield opened


@pytest.fixture
def observer(mqtt_broker: MqttBroker, mqtt_site: str) -> Iterator[BrokerSession]:
    """An admin session on the plain listener, subscribed to this test's site."""
    with BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-observer") as session:
        prefix = mqtt_broker.topic_prefix
        assert not session.subscribe(f"{prefix}/v1/{mqtt_site}/#", retained=False).is_failure
        yield session


@pytest.fixture
def link(
    mqtt_broker: MqttBroker, mqtt_site: str, outbox: Outbox
) -> Iterator[Callable[..., MqttLink]]:
    """Starts the device's MQTT link with the given port and TLS settings."""
    stop = threading.Event()
    started: list[MqttLink] = []
    topics = DeviceTopics(mqtt_broker.topic_prefix, mqtt_site, mqtt_broker.device.username)

    def start(port: int, **tls: object) -> MqttLink:
        settings = MqttSettings.model_validate(
            {
                "host": mqtt_broker.host,
                "port": port,
                "password": SecretStr(mqtt_broker.device.password),
                "topic_prefix": mqtt_broker.topic_prefix,
                "session_expiry_s": 0,
                "reconnect": QUICK,
                "tls": True,
                **tls,
            }
        )
        running = MqttLink(settings, topics, outbox, status_pb2.DeviceStatus, stop)
        running.start()
        started.append(running)
        return running

    yield start
    stop.set()
    for running in started:
        running.join(WAIT_S)


def birth_of(observer: BrokerSession, device_id: str) -> status_pb2.DeviceStatus:
    message = observer.next_message()
    assert message.topic.endswith(f"/{device_id}/status")
    return status_pb2.DeviceStatus.FromString(bytes(message.payload))


def test_the_mqtt_link_speaks_tls_with_the_brokers_ca(
    link: Callable[..., MqttLink],
    mqtt_broker: MqttBroker,
    observer: BrokerSession,
    tmp_path: Path,
) -> None:
    connected = link(mqtt_broker.tls_port, ca_file=mqtt_broker.ca_file)
    assert connected.wait_connected(WAIT_S)
    birth = birth_of(observer, mqtt_broker.device.username)
    assert birth.state == status_pb2.DEVICE_STATE_ONLINE


# paho leaves the socket of a failed TLS handshake to the garbage collector, which closes it
# as soon as the link drops the exception (and warns that it was left open).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_mqtt_link_refuses_a_broker_its_ca_file_does_not_vouch_for(
    link: Callable[..., MqttLink], mqtt_broker: MqttBroker, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(Authority("Sightline test CA").cert)
    assert not link(mqtt_broker.tls_port, ca_file=other_ca).wait_connected(3)


def test_the_mqtt_link_presents_its_certificate_where_the_broker_requires_one(
    link: Callable[..., MqttLink],
    mqtt_broker: MqttBroker,
    observer: BrokerSession,
    broker_ca: Authority,
    tmp_path: Path,
) -> None:
    device = mqtt_broker.device.username
    cert, key = broker_ca.issue(device, server=False).write(tmp_path, device)
    connected = link(
        mqtt_broker.mtls_port, ca_file=mqtt_broker.ca_file, cert_file=cert, key_file=key
    )
    assert connected.wait_connected(WAIT_S)
    assert birth_of(observer, device).state == status_pb2.DEVICE_STATE_ONLINE


def test_the_mqtt_link_without_a_certificate_is_refused_where_one_is_required(
    link: Callable[..., MqttLink], mqtt_broker: MqttBroker, observer: BrokerSession
) -> None:
    assert not link(mqtt_broker.mtls_port, ca_file=mqtt_broker.ca_file).wait_connected(3)
    # Nothing of the device got through.
    assert observer.messages.empty()


@pytest.fixture
def bridge_env(
    migrated_postgres_database: str, mqtt_broker: MqttBroker, mqtt_site: str
) -> dict[str, str]:
    """The bridge's environment on the mTLS listener, without a client certificate yet."""
    env = cloud_env(
        {
            "SIGHTLINE_CLOUD_DATABASE_URL": migrated_postgres_database,
            **bridge_variables(mqtt_broker, mqtt_site),
            "SIGHTLINE_CLOUD_MQTT_PORT": str(mqtt_broker.mtls_port),
            "SIGHTLINE_CLOUD_MQTT_TLS": "true",
            "SIGHTLINE_CLOUD_MQTT_CA_FILE": str(mqtt_broker.ca_file),
        }
    )
    provision_devices(env, mqtt_broker.device.username)
    return env


def test_the_bridge_presents_its_certificate_where_the_broker_requires_one(
    bridge_env: dict[str, str],
    mqtt_broker: MqttBroker,
    mqtt_site: str,
    broker_ca: Authority,
    tmp_path: Path,
) -> None:
    cert, key = broker_ca.issue("sightline-bridge", server=False).write(tmp_path, "bridge")
    env = {
        **bridge_env,
        "SIGHTLINE_CLOUD_MQTT_CERT_FILE": str(cert),
        "SIGHTLINE_CLOUD_MQTT_KEY_FILE": str(key),
    }
    bridge = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    try:
        bridge.wait_for("connected to the broker;")
        device = mqtt_broker.device.username
        online = status_pb2.DeviceStatus(
            state=status_pb2.DEVICE_STATE_ONLINE, session_seq=3, agent_version="0.9.0"
        )
        online.key.device_id, online.key.seq = device, 1
        online.time.GetCurrentTime()
        with BrokerSession(mqtt_broker, mqtt_broker.device) as session:
            topic = f"{mqtt_broker.topic_prefix}/v1/{mqtt_site}/{device}/status"
            assert not session.publish(topic, online.SerializeToString()).is_failure
        wait_for_status(env["SIGHTLINE_CLOUD_DATABASE_URL"], device, ("online", 3))
    finally:
        assert bridge.stop() == 0, bridge.output()


def test_the_bridge_without_a_certificate_never_connects_where_one_is_required(
    bridge_env: dict[str, str], tmp_path: Path
) -> None:
    bridge = Background(cloud_command("mqtt_bridge"), bridge_env, tmp_path / "bridge.log")
    try:
        bridge.wait_for("reconnecting to the broker in")
        assert "connected to the broker;" not in bridge.output()
    finally:
        bridge.stop()


def wait_for_status(database_url: str, device_id: str, expected: tuple[str, int]) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for _ in range(int(WAIT_S / 0.1)):
            row = conn.execute(
                "SELECT status, status_seq FROM fleet_device WHERE id = %s", (device_id,)
            ).fetchone()
            if row == expected:
                return
            threading.Event().wait(0.1)
    raise AssertionError(f"{device_id} is {row}, not {expected}")


@pytest.fixture
def ingest_pki(tmp_path: Path) -> tuple[Authority, dict[str, str]]:
    """A CA of this test, and the server's certificate for localhost from it, as settings."""
    authority = Authority("Sightline test ingest CA")
    cert, key = authority.issue("localhost", server=True).write(tmp_path, "ingest")
    return authority, {
        "SIGHTLINE_CLOUD_INGEST_TLS_CERT_FILE": str(cert),
        "SIGHTLINE_CLOUD_INGEST_TLS_KEY_FILE": str(key),
    }


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
def test_the_uplink_stores_a_crop_through_the_ingest_server_over_tls(
    storage_env: dict[str, str],
    ingest_pki: tuple[Authority, dict[str, str]],
    outbox: Outbox,
    s3_client: Minio,
    s3_bucket: str,
    tmp_path: Path,
    mutual: bool,
) -> None:
    authority, server_tls = ingest_pki
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(authority.cert)
    env = cloud_env({**storage_env, **server_tls, "SIGHTLINE_CLOUD_INGEST_ADDRESS": "127.0.0.1:0"})
    device_tls: dict[str, object] = {"tls": True, "ca_file": ca_file}
    if mutual:
        env["SIGHTLINE_CLOUD_INGEST_TLS_CLIENT_CA_FILE"] = str(ca_file)
        cert, key = authority.issue(DEVICE, server=False).write(tmp_path, DEVICE)
        device_tls |= {"cert_file": cert, "key_file": key}
    provision_devices(env, DEVICE)
    token = run_cloud(env, "device_token", DEVICE).strip()
    server = Background(cloud_command("ingest_grpc"), env, tmp_path / "ingest.log")
    try:
        port = int(server.wait_for(r"listening on port (\d+) \((m?TLS)\)").group(1))
        assert f"({'mTLS' if mutual else 'TLS'})" in server.output()
        crop = crop_request(device_id=DEVICE)
        enqueue_crop(outbox, crop)
        (row,) = outbox.peek("crop", 1)

        def send(**tls: object) -> Outcome:
            settings = {"target": f"localhost:{port}", "token": SecretStr(token), **tls}
            uplink = Uplink(UplinkSettings.model_validate(settings))
            try:
                return uplink.crops.send_batch([row]).outcomes[row.id]
            finally:
                uplink.close()

        if mutual:
            # Without its certificate the device does not get through the handshake.
            assert send(tls=True, ca_file=ca_file) is Outcome.UNACKED
        assert send(**device_tls) is Outcome.DELIVERED
    finally:
        assert server.stop() == 0, server.output()
    with psycopg.connect(env["SIGHTLINE_CLOUD_DATABASE_URL"]) as conn:
        (key,) = conn.execute("SELECT object_key FROM detections_detection").fetchone() or ("",)
    assert key.endswith(f"/{crop.detection_id}.jpg")
    assert s3_client.get_object(s3_bucket, key).read() == crop.jpeg
