"""Rollouts on real PostgreSQL: the gate and the operator lock a rollout's row (SELECT ... FOR
UPDATE), which SQLite, the unit tests' database, ignores.

An agent rollout has no model version: the join that fetches a rollout's model is an outer
one, and PostgreSQL refuses to lock its nullable side. The scenario runs the gate through a
whole agent rollout as the beat task and the operator do (`services.tick`, `services.act`),
with devices reporting through the same service calls the bridge makes.
"""

from __future__ import annotations

import json

import pytest

from tests.cloud.ingest.processes import cloud_env, run_cloud

pytestmark = pytest.mark.integration

OLD = "registry.example/sightline-edge-jetson:0.1.0"
NEW = "registry.example/sightline-edge-jetson:0.2.0"

AGENT_ROLLOUT = """
import json
from datetime import timedelta

from django.utils import timezone

from cloud.deploy.models import DesiredState
from cloud.deploy.services import agent_version_of
from cloud.fleet.models import Device
from cloud.fleet.services import provision_device
from cloud.rollouts import services
from cloud.rollouts.models import RolloutDevice
from tests.cloud.rollouts.reports import request, runs

OLD, NEW = {old!r}, {new!r}
DEVICES = [f"jetson-{{n}}" for n in range(4)]


def agent_runs(device_id, image, since, span=timedelta(seconds=60), error=""):
    Device.objects.filter(pk=device_id).update(agent_version=agent_version_of(image))
    runs(device_id, None, since, span, error=error, agent_image=image)


def members(rollout, stage):
    found = RolloutDevice.objects.filter(rollout=rollout, stage=stage)
    return sorted(found.values_list("device_id", flat=True)), found.first().assigned_at


for device_id in DEVICES:
    provision_device(device_id, hardware_profile="jetson-orin", site="s1")
    agent_runs(device_id, OLD, timezone.now() - timedelta(minutes=10), timedelta(minutes=10))
rollout = services.start_rollout(
    request(None, name="agent-2", agent_image=NEW, stages=("1", "100%")), "alice"
)
actions = []
(canary,), at = members(rollout, 0)
agent_runs(canary, NEW, at + timedelta(seconds=1))
for after in (62, 122):
    actions.append(services.tick(rollout.pk, at + timedelta(seconds=after)))
rest, at = members(rollout, 1)
for device_id in rest[:-1]:
    agent_runs(device_id, NEW, at + timedelta(seconds=1))
refusal = f"agent image {{NEW}}: rolled-back by the host (not healthy within 300s)"
agent_runs(rest[-1], OLD, at + timedelta(seconds=1), error=refusal)
actions.append(services.tick(rollout.pk, at + timedelta(seconds=62)))
services.act("agent-2", "abort", "alice", "the new agent does not start on one device")
rollout.refresh_from_db()
desired = dict(DesiredState.objects.values_list("device_id", "agent_image"))
print(json.dumps(dict(actions=actions, phase=rollout.phase, failed=rest[-1], desired=desired)))
"""


def test_an_agent_rollout_advances_fails_and_is_aborted_on_postgres(
    migrated_postgres_database: str,
) -> None:
    env = cloud_env({"SIGHTLINE_CLOUD_DATABASE_URL": migrated_postgres_database})
    script = AGENT_ROLLOUT.format(old=OLD, new=NEW)
    outcome = json.loads(run_cloud(env, "shell", "--no-imports", "-c", script))
    assert outcome["actions"] == ["gate_holds", "advance", "gate_failed"]
    assert outcome["phase"] == "aborted"
    # The device whose host rolled the upgrade back is meant to run the old image again.
    devices = [f"jetson-{n}" for n in range(4)]
    assert outcome["desired"] == {
        device: OLD if device == outcome["failed"] else NEW for device in devices
    }
