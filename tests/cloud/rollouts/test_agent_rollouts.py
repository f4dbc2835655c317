"""Agent rollouts: an agent image through the same stages and gate as a model.

A device adopts the image when its agent, restarted by the host on the new image, reports the
image's version in its status; an upgrade the host rolled back comes as an error in the
reported state of that generation, which fails the gate like a refused model.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from cloud.deploy.models import DesiredState, DesiredStateChange
from cloud.deploy.services import agent_version_of
from cloud.errors import InvalidInput
from cloud.fleet.models import Device
from cloud.rollouts import services
from cloud.rollouts.engine import Phase
from cloud.rollouts.models import Rollout, RolloutDevice
from tests.cloud.rollouts.reports import CPU, GPU, request, runs

OLD = "registry.example:5000/sightline-edge-jetson:0.1.0"
NEW = "registry.example:5000/sightline-edge-jetson:0.2.0"
_seq = itertools.count(1)


def agent_runs(
    device_id: str,
    image: str,
    since: datetime,
    span: timedelta = timedelta(seconds=60),
    *,
    error: str = "",
    fps: float = 5.0,
) -> None:
    """The device's agent runs `image` (its status says the image's version) and reports its
    desired generation at `since` (or `error` about it), then heartbeats every 5 s for `span`."""
    Device.objects.filter(pk=device_id).update(agent_version=agent_version_of(image))
    runs(device_id, None, since, span, error=error, fps=fps, agent_image=image)


@pytest.fixture
def on_old_image(fleet: list[str]) -> list[str]:
    """Every device has run the old image, healthy, for ten minutes (no desired state yet)."""
    start = timezone.now() - timedelta(minutes=10)
    for device_id in fleet:
        agent_runs(device_id, OLD, start, timedelta(minutes=10))
    return fleet


def desired_image(device_id: str) -> str:
    return DesiredState.objects.get(pk=device_id).agent_image


def stage_of(rollout: Rollout, stage: int) -> list[str]:
    members = RolloutDevice.objects.filter(rollout=rollout, stage=stage)
    return sorted(members.values_list("device_id", flat=True))


def assigned_at(rollout: Rollout, stage: int) -> datetime:
    member = RolloutDevice.objects.filter(rollout=rollout, stage=stage).first()
    assert member is not None and member.assigned_at is not None
    return member.assigned_at


def agent_request(**changes: object) -> services.RolloutRequest:
    return request(None, **{"name": "agent-2", "agent_image": NEW, **changes})


def test_the_image_tag_is_the_agent_version() -> None:
    assert agent_version_of(NEW) == "0.2.0"
    assert agent_version_of(f"sightline-edge-jetson:0.2.0@sha256:{'a' * 64}") == "0.2.0"
    for image in ("sightline-edge-jetson", "Sightline:1", "a:b c", "x:" + "1" * 129, ""):
        with pytest.raises(InvalidInput):
            agent_version_of(image)


def test_an_agent_rollout_advances_as_devices_report_the_new_version(
    on_old_image: list[str],
) -> None:
    rollout = services.start_rollout(agent_request(), "alice")
    (canary,) = stage_of(rollout, 0)
    assert desired_image(canary) == NEW
    assert not DesiredState.objects.exclude(pk=canary).exists()
    assert RolloutDevice.objects.get(device_id=canary).previous_agent_image == OLD
    change = DesiredStateChange.objects.get(device_id=canary)
    assert (change.agent_image, change.cameras) == (NEW, {})

    for stage in range(3):
        at = assigned_at(rollout, stage) + timedelta(seconds=1)
        for device_id in stage_of(rollout, stage):
            agent_runs(device_id, NEW, at)
        assert services.tick(rollout.pk, at + timedelta(seconds=61)) == "gate_holds"
        services.tick(rollout.pk, at + timedelta(seconds=61) + timedelta(seconds=60))
    rollout.refresh_from_db()
    assert rollout.phase == Phase.COMPLETED
    assert all(desired_image(device_id) == NEW for device_id in CPU + GPU)
    assert rollout.target == f"agent {NEW}"


def test_the_gate_waits_while_the_host_has_not_switched_images(on_old_image: list[str]) -> None:
    rollout = services.start_rollout(agent_request(), "alice")
    (canary,) = stage_of(rollout, 0)
    # The old agent took the generation and handed the image over; the host is still at it.
    agent_runs(canary, OLD, assigned_at(rollout, 0) + timedelta(seconds=1))
    assert services.tick(rollout.pk, timezone.now() + timedelta(hours=1)) is None
    rollout.refresh_from_db()
    assert (rollout.phase, rollout.stage) == (Phase.RUNNING, 0)


def test_an_upgrade_the_host_rolled_back_fails_the_gate_and_restores_the_old_image(
    on_old_image: list[str],
) -> None:
    rollout = services.start_rollout(agent_request(), "alice")
    (canary,) = stage_of(rollout, 0)
    refusal = f"agent image {NEW}: rolled-back by the host (not healthy within 300s)"
    agent_runs(canary, OLD, assigned_at(rollout, 0) + timedelta(seconds=1), error=refusal)

    assert services.tick(rollout.pk, timezone.now() + timedelta(seconds=61)) == "gate_failed"
    rollout.refresh_from_db()
    assert rollout.phase == Phase.PAUSED
    assert desired_image(canary) == OLD
    failed = rollout.events.get(action="gate_failed")
    assert failed.devices == [canary] and "not healthy within 300s" in failed.reason


def test_a_slower_agent_fails_the_gate_on_health(on_old_image: list[str]) -> None:
    rollout = services.start_rollout(agent_request(stages=("100%",)), "alice")
    at = assigned_at(rollout, 0) + timedelta(seconds=1)
    for device_id in CPU:
        agent_runs(device_id, NEW, at)
    for device_id in GPU:
        agent_runs(device_id, NEW, at, fps=1.0)

    assert services.tick(rollout.pk, at + timedelta(seconds=61)) == "gate_failed"
    assert all(desired_image(device_id) == OLD for device_id in GPU)
    assert all(desired_image(device_id) == NEW for device_id in CPU)


def test_an_operator_rollback_puts_every_touched_device_back(on_old_image: list[str]) -> None:
    rollout = services.start_rollout(agent_request(stages=("2", "100%")), "alice")
    touched = stage_of(rollout, 0)
    services.act(rollout.name, "rollback", "alice", "checking")
    assert [desired_image(device_id) for device_id in touched] == [OLD, OLD]
    untouched = stage_of(rollout, 1)
    assert not DesiredState.objects.filter(pk__in=untouched).exists()


def test_a_device_whose_image_is_unknown_is_not_rolled_back(fleet: list[str]) -> None:
    rollout = services.start_rollout(agent_request(stages=("100%",)), "alice")
    services.act(rollout.name, "rollback", "alice")
    assert all(desired_image(device_id) == NEW for device_id in fleet)
    assert rollout.events.get(action="rollback").devices == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"agent_image": ""}, "either a model version or an agent image"),
        ({"model_version_id": 1}, "either a model version or an agent image"),
        ({"agent_image": "sightline-edge-jetson"}, "with a tag"),
    ],
)
def test_an_agent_rollout_names_one_tagged_image(
    on_old_image: list[str], changes: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidInput, match=problem):
        services.start_rollout(agent_request(**changes), "alice")
    assert not Rollout.objects.exists()


def test_the_command_starts_an_agent_rollout(on_old_image: list[str]) -> None:
    out = StringIO()
    call_command(
        "rollouts", "--actor", "alice", "start", "a1", "--agent-image", NEW,
        "--stages", "1,100%", "--json", stdout=out,
    )  # fmt: skip
    started = json.loads(out.getvalue())
    assert (started["target"], started["phase"]) == (f"agent {NEW}", "running")
    assert Rollout.objects.get().agent_image == NEW
