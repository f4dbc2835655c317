"""The MQTT payload fuzzer on real Mosquitto and PostgreSQL, through `python -m cloud mqtt_bridge`.

Each example publishes one hostile `status`, `metrics` or `reported` payload of the first test
device (`tests.cloud.ingest.hostile`), then a valid heartbeat of the second one, from one
session so that the bridge gets them in that order. The heartbeat must be stored (the hostile
payload stalled nothing, whatever it held) and every row must stay well-formed; the bridge logs
no failure it could not classify and nothing the database refused (a check missing before
it). The unit fuzzer (tests/cloud/ingest/test_fuzz_device_messages.py) runs many more examples
on SQLite.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sightline.device.v1 import key_pb2, metrics_pb2
from sightline.device.v1.topics import Upstream
from tests.cloud.ingest.hostile import (
    metrics_messages,
    payloads,
    reported_messages,
    status_messages,
)
from tests.cloud.ingest.processes import (
    Background,
    bridge_variables,
    cloud_command,
    cloud_env,
    provision_devices,
)
from tests.cloud.ingest.well_formed import ill_formed_rows
from tests.integration.mqtt_session import BrokerSession
from tests.integration.stores import PostgresRows
from tests.services.contract import MqttBroker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Generating overly large repr"),
]

HEARTBEAT_TIMEOUT_S = 10.0


@pytest.fixture
def env(migrated_postgres_database: str, mqtt_broker: MqttBroker, mqtt_site: str) -> dict[str, str]:
    env = cloud_env(
        {
            "SIGHTLINE_CLOUD_DATABASE_URL": migrated_postgres_database,
            **bridge_variables(mqtt_broker, mqtt_site),
        }
    )
    provision_devices(env, mqtt_broker.device.username, mqtt_broker.device2.username)
    return env


@pytest.fixture
def bridge(env: dict[str, str], tmp_path: Path) -> Iterator[Background]:
    process = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    process.wait_for("connected to the broker")
    yield process
    assert process.stop() == 0, process.output()


@pytest.fixture
def publisher(mqtt_broker: MqttBroker, mqtt_site: str) -> Iterator[BrokerSession]:
    """The test admin, which may publish as any device."""
    with BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-fuzzer") as session:
        yield session


@pytest.fixture
def database(env: dict[str, str]) -> Iterator[PostgresRows]:
    rows = PostgresRows(env["SIGHTLINE_CLOUD_DATABASE_URL"])
    yield rows
    rows.close()


@pytest.fixture
def heartbeat_seq() -> Iterator[int]:
    return itertools.count(1)


def wait_for_heartbeat(database: PostgresRows, device_id: str, seq: int) -> None:
    deadline = time.monotonic() + HEARTBEAT_TIMEOUT_S
    while time.monotonic() < deadline:
        rows = database.rows("fleet_devicehealth")
        if any(row["device_id"] == device_id and row["seq"] == seq for row in rows):
            return
        time.sleep(0.02)
    raise AssertionError(f"heartbeat {seq} of {device_id} not stored: the bridge stalled")


@functools.cache  # built once, not for every example
def _leaf_payloads(device_id: str) -> st.SearchStrategy[tuple[Upstream, bytes]]:
    return st.one_of(
        st.tuples(st.just(Upstream.STATUS), payloads(status_messages(device_id))),
        st.tuples(st.just(Upstream.METRICS), payloads(metrics_messages(device_id))),
        st.tuples(st.just(Upstream.REPORTED), payloads(reported_messages(device_id))),
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_hostile_payloads_stall_nothing_and_store_only_well_formed_rows(
    mqtt_broker: MqttBroker,
    mqtt_site: str,
    bridge: Background,
    publisher: BrokerSession,
    database: PostgresRows,
    heartbeat_seq: Iterator[int],
    data: st.DataObject,
) -> None:
    hostile, other = mqtt_broker.device.username, mqtt_broker.device2.username
    leaf, payload = data.draw(_leaf_payloads(hostile))
    base = f"{mqtt_broker.topic_prefix}/v1/{mqtt_site}"
    assert not publisher.publish(f"{base}/{hostile}/{leaf}", payload).is_failure
    seq = next(heartbeat_seq)
    heartbeat = metrics_pb2.Metrics(key=key_pb2.MessageKey(device_id=other, seq=seq))
    heartbeat.time.GetCurrentTime()
    reason = publisher.publish(f"{base}/{other}/metrics", heartbeat.SerializeToString())
    assert not reason.is_failure
    wait_for_heartbeat(database, other, seq)
    assert ill_formed_rows(database.rows) == set()
    # A failure the bridge could not classify is a bug; one the database refused, a missing check.
    assert "failed to apply" not in bridge.output()
    assert "(refused_by_database)" not in bridge.output()
