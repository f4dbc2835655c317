"""Staged rollouts on a simulated fleet speaking the real protocols, through the real bridge.

Simulated agents (`tests.fleet.simulator`) log in to the shared test Mosquitto with their own
broker accounts, heartbeat every second, follow their retained desired state and report what
they run, as the edge agent does. `python -m cloud mqtt_bridge` publishes each desired state
and stores every heartbeat and report in this test's PostgreSQL database. The operator works
through `python -m cloud models` and `python -m cloud rollouts`; the gate is the beat task
`advance_rollouts`, run here once a second as `celery -A cloud beat` would queue it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cloud.fleet.broker import MosquittoAccounts, new_password
from tests.cloud.ingest.processes import Background, cloud_command, model_registry_cloud
from tests.cloud.ingest.processes import run_cloud as run
from tests.fleet.harness import FleetThread, rows, upload_models, wait_for
from tests.fleet.simulator import AgentSpec, Fleet, SimulatedAgent
from tests.services.contract import MqttBroker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CPU, GPU = 12, 6
PROVISION = """
import json, sys
from cloud.fleet.services import provision_device
for device_id, hardware in json.loads(sys.stdin.read()):
    provision_device(device_id, hardware_profile=hardware, site={site!r})
"""
STAGE = "SELECT stage FROM rollouts_rollout"
LOG = "SELECT actor, action, reason FROM rollouts_rolloutevent ORDER BY at, id"
TICK = "from cloud.rollouts.tasks import advance_rollouts; advance_rollouts()"
# Short soak and baseline for a test; the gate's bounds are the defaults.
ROLLOUT = ["--soak-s", "3", "--baseline-s", "20"]


@pytest.fixture
def env(
    migrated_postgres_database: str, mqtt_broker: MqttBroker, mqtt_site: str, tmp_path: Path
) -> dict[str, str]:
    env = model_registry_cloud(
        migrated_postgres_database, mqtt_broker, mqtt_site, tmp_path / "objects"
    )
    upload_models(env, tmp_path)
    return env


def fleet_specs(
    env: dict[str, str],
    accounts: MosquittoAccounts,
    site: str,
    token: str,
    slow_on_gpu: frozenset[str] = frozenset(),
) -> Iterator[list[AgentSpec]]:
    """CPU and GPU agents, provisioned and with broker accounts; the GPU ones run the
    versions `slow_on_gpu` at a fifth of their rate."""
    specs = [
        AgentSpec(device_id=f"cpu-{token}-{n:02d}", site=site, password=new_password())
        for n in range(CPU)
    ] + [
        AgentSpec(
            device_id=f"gpu-{token}-{n:02d}",
            site=site,
            password=new_password(),
            slow_on=slow_on_gpu,
        )
        for n in range(GPU)
    ]
    devices = [[s.device_id, "x86-" + s.device_id.split("-")[0]] for s in specs]
    provision = cloud_command("shell", "--no-imports", "-c", PROVISION.format(site=site))
    subprocess.run(provision, input=json.dumps(devices), env=env, text=True, check=True)
    try:
        for spec in specs:
            accounts.put_device(spec.device_id, spec.site, spec.password)
        yield specs
    finally:
        for spec in specs:
            accounts.delete(spec.device_id)


def agents_of(specs: list[AgentSpec], broker: MqttBroker) -> list[SimulatedAgent]:
    return [
        SimulatedAgent(spec, host=broker.host, port=broker.port, topic_prefix=broker.topic_prefix)
        for spec in specs
    ]


def running(database: str, version: str) -> set[str]:
    """Devices whose stored reported state says they run `version`, without error."""
    found = rows(
        database,
        "SELECT device_id, cameras FROM deploy_reportedstate WHERE error = ''",
    )
    return {device for device, cameras in found if {c["version"] for c in cameras} == {version}}


def phase(database: str) -> str:
    ((value,),) = rows(database, "SELECT phase FROM rollouts_rollout")
    return str(value)


def drive(
    env: dict[str, str], fleet: FleetThread, done: Callable[[], bool], what: str, timeout_s: float
) -> None:
    """Run the gate once a second until `done`."""
    deadline = time.monotonic() + timeout_s
    while not done():
        fleet.check()
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        tick(env)
        time.sleep(1.0)


def tick(env: dict[str, str]) -> None:
    """The beat task once. It logs a rollout it cannot judge and goes on to the others, which
    would leave a test waiting for a stage that never comes: fail with the traceback instead."""
    done = subprocess.run(
        cloud_command("shell", "--no-imports", "-c", TICK),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "could not judge" not in done.stderr, done.stderr


def start_on_version_1(
    env: dict[str, str], database: str, agents: list[SimulatedAgent], fleet: FleetThread
) -> None:
    """Every agent runs version 1 (its desired state says so) and has a baseline on it."""
    ids = [agent.spec.device_id for agent in agents]
    devices = [arg for device in ids for arg in ("--device", device)]
    run(env, "models", "assign", "nanodet-g", "1", *devices, "--reason", "baseline")
    wait_for(lambda: running(database, "1") >= set(ids), "version 1 everywhere", fleet, 60)
    marks = {a.spec.device_id: len(a.acked) for a in agents}
    wait_for(
        lambda: all(len(a.acked) >= marks[a.spec.device_id] + 5 for a in agents),
        "a baseline of heartbeats",
        fleet,
        60,
    )


@pytest.fixture
def healthy(
    env: dict[str, str], mqtt_accounts: MosquittoAccounts, mqtt_site: str, session_token: str
) -> Iterator[list[AgentSpec]]:
    yield from fleet_specs(env, mqtt_accounts, mqtt_site, session_token)


@pytest.fixture
def slow_on_gpu(
    env: dict[str, str], mqtt_accounts: MosquittoAccounts, mqtt_site: str, session_token: str
) -> Iterator[list[AgentSpec]]:
    yield from fleet_specs(
        env, mqtt_accounts, mqtt_site, session_token, slow_on_gpu=frozenset({"2"})
    )


@pytest.fixture
def bridge(env: dict[str, str], tmp_path: Path) -> Iterator[Background]:
    process = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    process.wait_for("connected to the broker")
    yield process
    process.stop()


@contextmanager
def fleet_on_version_1(env: dict[str, str], agents: list[SimulatedAgent]) -> Iterator[FleetThread]:
    """The agents heartbeating every second, running version 1 with a baseline on it."""
    fleet = FleetThread(Fleet(agents, heartbeat_s=1.0))
    fleet.start()
    try:
        start_on_version_1(env, env["SIGHTLINE_CLOUD_DATABASE_URL"], agents, fleet)
        yield fleet
    finally:
        fleet.stop()


def test_a_three_stage_rollout_completes_across_a_cloud_restart_and_an_offline_device(
    env: dict[str, str],
    healthy: list[AgentSpec],
    mqtt_broker: MqttBroker,
    bridge: Background,
    tmp_path: Path,
) -> None:
    database = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    late, online = healthy[0], healthy[1:]
    agents = agents_of(online, mqtt_broker)
    with fleet_on_version_1(env, agents) as fleet:
        # One device is offline for the whole rollout: the gate lets a stage hold with up to a
        # fifth of its devices waiting, and the retained desired state reaches it later.
        run(env, "rollouts", "start", "r1", "--model", "nanodet-g", "2", *ROLLOUT,
            "--stages", "1,50%,100%", "--bound", "max_waiting=0.2")  # fmt: skip
        # The cloud restarts mid-rollout: the bridge goes, comes back, and the rollout resumes
        # from what is stored.
        second = [(1,)]
        drive(env, fleet, lambda: rows(database, STAGE) == second, "the second stage", 60)
        bridge.stop()
        again = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge-2.log")
        try:
            again.wait_for("connected to the broker")
            drive(env, fleet, lambda: phase(database) != "running", "the end", 120)
            assert phase(database) == "completed", rows(database, LOG)
            assert running(database, "2") == {a.spec.device_id for a in agents}

            # The offline device comes back and converges on its own.
            comeback = FleetThread(Fleet(agents_of([late], mqtt_broker), heartbeat_s=1.0))
            comeback.start()
            try:
                wait_for(lambda: late.device_id in running(database, "2"), "the late", comeback, 30)
            finally:
                comeback.stop()
        finally:
            again.stop()
    log = rows(database, "SELECT actor, action FROM rollouts_rolloutevent ORDER BY at, id")
    assert [action for _, action in log].count("advance") == 2
    assert log[-1] == ("gate", "complete")


def test_a_model_slow_on_one_hardware_pauses_and_rolls_back_only_those_devices(
    env: dict[str, str], slow_on_gpu: list[AgentSpec], mqtt_broker: MqttBroker, bridge: Background
) -> None:
    database = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    with fleet_on_version_1(env, agents_of(slow_on_gpu, mqtt_broker)) as fleet:
        # Two stages of half the fleet each: whichever devices the plan picks first, CPU devices
        # get the new model before the gate sees the GPU ones fail.
        run(env, "rollouts", "start", "r1", "--model", "nanodet-g", "2", *ROLLOUT,
            "--stages", "50%,100%")  # fmt: skip
        drive(env, fleet, lambda: phase(database) != "running", "the gate's verdict", 150)
        assert phase(database) == "paused"
        ((reason, rolled_back),) = rows(
            database,
            "SELECT reason, devices FROM rollouts_rolloutevent WHERE action = 'gate_failed'",
        )
        assert rolled_back and all(device.startswith("gpu-") for device in rolled_back)
        assert "below its baseline" in reason
        wait_for(
            lambda: set(rolled_back) <= running(database, "1"), "the GPUs rolled back", fleet, 30
        )
        assigned = {
            device
            for (device,) in rows(
                database,
                "SELECT device_id FROM rollouts_rolloutdevice WHERE assigned_at IS NOT NULL",
            )
        }
        kept = {device for device in assigned if device.startswith("cpu-")}
        assert kept and kept <= running(database, "2")
