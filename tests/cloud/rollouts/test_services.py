"""Rollouts as stored: planned, driven by the gate on stored health, steered by operators.

Devices here are rows and their health is heartbeat samples as the bridge stores them; the
gate reads both through the same services it uses in production (`cloud.deploy`,
`cloud.monitoring`). The simulated-fleet tests on the real broker are in tests/integration.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from cloud.deploy.models import DesiredState, ModelVersion
from cloud.errors import InvalidInput, NotFound
from cloud.rollouts import services
from cloud.rollouts.engine import Phase
from cloud.rollouts.models import Rollout, RolloutDevice
from cloud.rollouts.services import Selector
from tests.cloud.rollouts.reports import CPU, GPU, SOAK, request, runs


def stage_devices(rollout: Rollout, stage: int) -> list[str]:
    return sorted(
        RolloutDevice.objects.filter(rollout=rollout, stage=stage).values_list(
            "device_id", flat=True
        )
    )


def desired_version(device_id: str) -> int:
    return int(DesiredState.objects.get(pk=device_id).cameras[""])


def soak_stage(rollout: Rollout, version: ModelVersion, stage: int, **health: object) -> datetime:
    """The devices of `stage` take the model and run it for a minute; the gate holds (or not)
    and soaks. Returns the time after the soak."""
    assigned = RolloutDevice.objects.filter(rollout=rollout, stage=stage).first()
    assert assigned is not None and assigned.assigned_at is not None
    at = assigned.assigned_at + timedelta(seconds=1)
    for device_id in stage_devices(rollout, stage):
        runs(device_id, version, at, **health)  # type: ignore[arg-type]
    first = at + timedelta(seconds=61)
    services.tick(rollout.pk, first)
    return first + SOAK


def test_a_three_stage_rollout_that_stays_healthy_completes(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    old, new = old_and_new
    rollout = services.start_rollout(request(new), "alice")
    assert [len(stage_devices(rollout, n)) for n in range(3)] == [1, 3, 4]
    canary = stage_devices(rollout, 0)
    assert desired_version(canary[0]) == new.pk
    assert all(desired_version(d) == old.pk for d in stage_devices(rollout, 2))

    for stage in range(3):
        after = soak_stage(rollout, new, stage)
        services.tick(rollout.pk, after)
    rollout.refresh_from_db()
    assert rollout.phase == Phase.COMPLETED
    assert all(desired_version(d) == new.pk for d in CPU + GPU)
    actions = list(rollout.events.values_list("action", flat=True))
    assert actions == [
        "start",
        "gate_holds",
        "advance",
        "gate_holds",
        "advance",
        "gate_holds",
        "complete",
    ]


def test_the_gate_waits_while_devices_have_not_reported_the_new_model(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    _, new = old_and_new
    rollout = services.start_rollout(request(new), "alice")
    assert services.tick(rollout.pk, timezone.now() + timedelta(hours=1)) is None
    rollout.refresh_from_db()
    assert (rollout.phase, rollout.stage) == (Phase.RUNNING, 0)


def test_a_model_that_breaks_on_one_hardware_pauses_and_rolls_back_only_those_devices(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    old, new = old_and_new
    rollout = services.start_rollout(request(new, stages=("100%",)), "alice")
    assigned = RolloutDevice.objects.filter(rollout=rollout).first()
    assert assigned is not None and assigned.assigned_at is not None
    at = assigned.assigned_at + timedelta(seconds=1)
    for device_id in CPU:
        runs(device_id, new, at)
    for device_id in GPU:
        runs(device_id, new, at, fps=1.0)

    assert services.tick(rollout.pk, at + timedelta(seconds=61)) == "gate_failed"
    rollout.refresh_from_db()
    assert rollout.phase == Phase.PAUSED
    assert all(desired_version(d) == old.pk for d in GPU)
    assert all(desired_version(d) == new.pk for d in CPU)
    failed = rollout.events.get(action="gate_failed")
    assert failed.actor == "gate" and failed.devices == GPU
    assert "fps 1.0 is 80% below its baseline 5.0" in failed.reason


def test_a_refused_model_fails_the_gate_with_the_device_reason(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    old, new = old_and_new
    rollout = services.start_rollout(request(new), "alice")
    (canary,) = stage_devices(rollout, 0)
    runs(canary, old, timezone.now(), error="artifact sha256 differs: tampered")
    assert services.tick(rollout.pk, timezone.now() + timedelta(seconds=61)) == "gate_failed"
    rollout.refresh_from_db()
    assert rollout.phase == Phase.PAUSED
    assert "tampered" in rollout.events.get(action="gate_failed").reason


def test_operators_pause_resume_approve_and_roll_back_and_the_log_says_who_and_why(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    old, new = old_and_new
    rollout = services.start_rollout(request(new, approvals=frozenset({1})), "alice")
    services.act(rollout.name, "pause", "bob", "night shift")
    with pytest.raises(InvalidInput, match="only a running rollout pauses"):
        services.act(rollout.name, "pause", "bob")
    services.act(rollout.name, "resume", "bob")
    after = soak_stage(rollout, new, 0)
    assert services.tick(rollout.pk, after) == "await_approval"
    assert not RolloutDevice.objects.filter(rollout=rollout, stage=1, assigned_at__isnull=False)
    services.act(rollout.name, "approve", "carol", "canary looks fine")
    assert RolloutDevice.objects.filter(rollout=rollout, stage=1, assigned_at__isnull=False)
    services.act(rollout.name, "rollback", "carol", "customer complaint")
    rollout.refresh_from_db()
    assert rollout.phase == Phase.ROLLED_BACK
    assert all(desired_version(d) == old.pk for d in CPU + GPU)
    log = [(e.actor, e.action, e.reason) for e in rollout.events.all()]
    assert ("bob", "pause", "paused: night shift") in log
    assert ("carol", "approve", "approved; stage 2 started: canary looks fine") in log
    assert log[-1][:2] == ("carol", "rollback")


def test_plans_that_cannot_work_are_refused_and_store_nothing(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    _, new = old_and_new
    with pytest.raises(InvalidInput, match="matches no device"):
        services.start_rollout(request(new, selector=Selector(tags=("nowhere",))), "alice")
    with pytest.raises(InvalidInput, match="approvals name stages outside"):
        services.start_rollout(request(new, approvals=frozenset({5})), "alice")
    with pytest.raises(InvalidInput, match="baseline must be longer than 0 s"):
        services.start_rollout(request(new, baseline=timedelta(0)), "alice")
    with pytest.raises(NotFound):
        services.start_rollout(request(new, model_version_id=10**6), "alice")
    services.start_rollout(request(new), "alice")
    with pytest.raises(InvalidInput, match="exists already"):
        services.start_rollout(request(new), "alice")
    assert Rollout.objects.count() == 1
    with pytest.raises(NotFound):
        services.act("nope", "pause", "bob")


def test_the_selector_targets_by_hardware(
    old_and_new: tuple[ModelVersion, ModelVersion],
) -> None:
    _, new = old_and_new
    assert services.select_devices(Selector(hardware=("x86-gpu",))) == GPU
    rollout = services.start_rollout(
        request(new, selector=Selector(hardware=("x86-gpu",)), stages=("100%",)), "alice"
    )
    assert (
        sorted(RolloutDevice.objects.filter(rollout=rollout).values_list("device", flat=True))
        == GPU
    )
