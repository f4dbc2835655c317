"""200 simulated agents heartbeat through the real bridge into PostgreSQL, and raise alerts.

Each agent (`tests.fleet.simulator`) logs in to the shared test Mosquitto with its own broker
account, made by `cloud.fleet.broker.MosquittoAccounts` for this test's site, and publishes a
birth, a last will and a heartbeat every 2 s, as the edge agent does. `python -m cloud
mqtt_bridge` stores them in this test's database. Then: every heartbeat the broker acknowledged
is stored exactly once; one agent killed (socket closed, no DISCONNECT) is offline by its last
will and raises an offline alert; one that drops rows raises a dropping alert, one whose
detector runs slow a lagging alert, and nobody else raises anything.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.fleet.broker import MosquittoAccounts, new_password
from tests.cloud.ingest.processes import (
    Background,
    bridge_variables,
    cloud_command,
    cloud_env,
    run_cloud,
)
from tests.fleet.harness import FleetThread, rows, wait_for
from tests.fleet.simulator import AgentSpec, Behaviour, Fleet, SimulatedAgent
from tests.services.contract import MqttBroker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEVICES = 200
HEARTBEAT_S = 2.0
KILLED, DROPPING, LAGGING = 0, 1, 2
PROVISION = """
import json, sys
from cloud.fleet.services import provision_device
for device_id in json.loads(sys.stdin.read()):
    provision_device(device_id, hardware_profile="x86-cpu", site={site!r})
"""
ALERT_PASS = "from cloud.monitoring.tasks import evaluate_alerts; print(evaluate_alerts())"


@pytest.fixture
def env(migrated_postgres_database: str, mqtt_broker: MqttBroker, mqtt_site: str) -> dict[str, str]:
    env = cloud_env(
        {
            "SIGHTLINE_CLOUD_DATABASE_URL": migrated_postgres_database,
            **bridge_variables(mqtt_broker, mqtt_site),
            "SIGHTLINE_CLOUD_MONITORING_HEARTBEAT_S": str(int(HEARTBEAT_S)),
            "SIGHTLINE_CLOUD_MONITORING_ALERT_WINDOW_S": "10",
        }
    )
    return env


@pytest.fixture
def specs(
    env: dict[str, str], mqtt_accounts: MosquittoAccounts, mqtt_site: str, session_token: str
) -> Iterator[list[AgentSpec]]:
    """The agents, provisioned in the cloud and with broker accounts of their own."""
    behaviours = {DROPPING: Behaviour.DROPPING, LAGGING: Behaviour.LAGGING}
    specs = [
        AgentSpec(
            device_id=f"sim-{session_token}-{n:03d}",
            site=mqtt_site,
            password=new_password(),
            behaviour=behaviours.get(n, Behaviour.STEADY),
        )
        for n in range(DEVICES)
    ]
    ids = [spec.device_id for spec in specs]
    script = PROVISION.format(site=mqtt_site)
    provision = cloud_command("shell", "--no-imports", "-c", script)
    subprocess.run(provision, input=json.dumps(ids), env=env, text=True, check=True, timeout=120)
    try:
        for spec in specs:
            mqtt_accounts.put_device(spec.device_id, spec.site, spec.password)
        yield specs
    finally:
        for spec in specs:
            mqtt_accounts.delete(spec.device_id)


def test_200_simulated_agents_are_stored_and_alerted_on(
    env: dict[str, str], specs: list[AgentSpec], mqtt_broker: MqttBroker, tmp_path: Path
) -> None:
    database = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    bridge = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    agents = [
        SimulatedAgent(
            spec,
            host=mqtt_broker.host,
            port=mqtt_broker.port,
            topic_prefix=mqtt_broker.topic_prefix,
        )
        for spec in specs
    ]
    fleet = FleetThread(Fleet(agents, heartbeat_s=HEARTBEAT_S))
    killed = specs[KILLED].device_id
    try:
        bridge.wait_for("connected to the broker")
        fleet.start()
        wait_for(lambda: all(len(a.acked) >= 3 for a in agents), "3 heartbeats each", fleet, 60)
        wait_for(
            lambda: rows(database, "SELECT count(*) FROM fleet_device WHERE status = 'online'")
            == [(DEVICES,)],
            "every birth applied",
            fleet,
            30,
        )

        fleet.call(lambda: fleet.fleet.kill(killed))
        wait_for(
            lambda: rows(database, "SELECT status FROM fleet_device WHERE id = %s", killed)
            == [("offline",)],
            "the killed agent's last will",
            fleet,
            30,
        )
        # A whole alert window (10 s) of heartbeats after the kill.
        marks = {a.spec.device_id: len(a.acked) for a in agents}
        wait_for(
            lambda: all(len(a.acked) >= marks[a.spec.device_id] + 6 for a in agents[1:]),
            "a window of heartbeats",
            fleet,
            60,
        )
        assert "(3, 0)" in run_cloud(env, "shell", "--no-imports", "-c", ALERT_PASS)
        alerts = rows(
            database, "SELECT device_id, kind FROM monitoring_alert WHERE resolved_at IS NULL"
        )
        assert set(alerts) == {
            (killed, "offline"),
            (specs[DROPPING].device_id, "dropping"),
            (specs[LAGGING].device_id, "lagging"),
        }
    finally:
        fleet.stop()

    acked = fleet.fleet.acked()
    assert len(acked) >= DEVICES * 3
    query = "SELECT device_id, seq FROM monitoring_heartbeatsample"
    wait_for(lambda: len(rows(database, query)) >= len(acked), "every heartbeat stored", fleet, 60)
    stored = rows(database, query)
    assert len(stored) == len(set(stored))  # each once
    assert acked <= set(stored)  # every acknowledged one (a last one may await its PUBACK)
    ((cameras, fps_ratio, latency),) = rows(
        database,
        "SELECT cameras, fps_ratio, latency_p95_ms FROM monitoring_heartbeatsample "
        "WHERE device_id = %s ORDER BY seq DESC LIMIT 1",
        specs[LAGGING].device_id,
    )
    assert set(cameras) == {"cam0", "cam1"}
    assert fps_ratio < 0.5 and latency > 40
    bridge.stop()
    assert "Traceback" not in bridge.output()
