"""Rollouts as stored: create one, let the gate drive it, and the operator's actions.

A rollout rolls out either a model version or an agent image (`Rollout.agent_image`), through
the same stages, gate and actions. A device adopts an agent image when the agent version it
reports (its status, `Device.agent_version`) is the image's tag (`deploy.agent_version_of`); it
refuses it when it reports an error for that desired generation, as its agent does when the
host rolled the upgrade back (the new image did not run healthy): the gate fails the stage as
for a refused model, and the devices go back to the image they ran before.

Every change of a rollout happens in one database transaction with the rollout's row locked:
the new progress, the devices assigned or rolled back (through `cloud.deploy.services`, which
bumps each device's desired generation for the bridge to publish) and the audit entry. Two
beat ticks, or a tick and an operator, therefore never act on the same state twice, and a cloud
restarted mid-rollout resumes from what is stored.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloud.deploy import services as deploy
from cloud.deploy.models import ModelVersion
from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import Device
from cloud.monitoring.services import Window, windows_stats
from cloud.rollouts import engine
from cloud.rollouts.engine import Phase, Progress, Transition, TransitionError
from cloud.rollouts.gate import Adoption, DeviceEvidence, GateBounds, StageJudgement, judge_stage
from cloud.rollouts.models import Rollout, RolloutDevice, RolloutEvent
from cloud.rollouts.plan import PlanError, plan_stages

logger = logging.getLogger(__name__)

GATE_ACTOR = "gate"
"""The actor of the audit entries the gate makes."""


class Selector(BaseModel):
    """Which devices a rollout targets: every condition given must hold (empty: any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sites: tuple[str, ...] = Field(default=(), description="Site ids.")
    hardware: tuple[str, ...] = Field(default=(), description="Hardware profiles.")
    tags: tuple[str, ...] = Field(default=(), description="Tags; a device needs one of them.")
    groups: tuple[str, ...] = Field(
        default=(), description="Camera groups as site/name; a device with a camera in one."
    )
    devices: tuple[str, ...] = Field(default=(), description="Device ids.")


def select_devices(selector: Selector) -> list[str]:
    """The ids of the devices `selector` matches, sorted."""
    query = Device.objects.all()
    if selector.sites:
        query = query.filter(site_id__in=selector.sites)
    if selector.hardware:
        query = query.filter(hardware_profile__in=selector.hardware)
    if selector.tags:
        query = query.filter(tags__id__in=selector.tags)
    if selector.groups:
        groups = Q()
        for group in selector.groups:
            site, _, name = group.partition("/")
            groups |= Q(cameras__groups__site_id=site, cameras__groups__name=name)
        query = query.filter(groups)
    if selector.devices:
        query = query.filter(pk__in=selector.devices)
    return sorted(set(query.values_list("pk", flat=True)))


@dataclass(frozen=True)
class RolloutRequest:
    """What an operator asks for when starting a rollout."""

    name: str
    model_version_id: int | None
    """The model version to roll out; None for an agent rollout."""
    selector: Selector
    stages: tuple[str, ...]
    soak: timedelta
    baseline: timedelta
    bounds: GateBounds
    approvals: frozenset[int] = frozenset()
    agent_image: str = ""
    """The agent image to roll out instead of a model (`repository:version`)."""


def _previous_version(deployment: deploy.DeviceDeployment | None) -> int | None:
    """The one model a device was meant to run before, if it ran one model on every camera."""
    if deployment is None:
        return None
    versions = set(deployment.desired.cameras.values())
    return int(next(iter(versions))) if len(versions) == 1 else None


def _progress(rollout: Rollout) -> Progress:
    return Progress(
        phase=Phase(rollout.phase),
        stage=rollout.stage,
        stages=len(rollout.stages),
        soak=timedelta(seconds=rollout.soak_s),
        approvals=frozenset(rollout.approvals),
        holding_since=rollout.holding_since,
    )


def start_rollout(request: RolloutRequest, actor: str) -> Rollout:
    """Plan the rollout, store it and assign its first stage (unless that awaits approval).

    InvalidInput for a plan that cannot work (no device matched, stage sizes that do not grow,
    a duplicate name, an approval for a stage that does not exist, no baseline, not exactly
    one of a model version and an agent image, an image without a version tag); NotFound for
    an unknown model version.
    """
    version = _target_version(request)
    if request.baseline <= timedelta(0) or request.soak < timedelta(0):
        # An empty baseline window would leave the gate nothing to compare with, ever.
        raise InvalidInput("the baseline must be longer than 0 s, the soak not negative")
    if any(not 0 <= index < len(request.stages) for index in request.approvals):
        raise InvalidInput(f"approvals name stages outside 1..{len(request.stages)}")
    device_ids = select_devices(request.selector)
    try:
        stages = plan_stages(request.name, device_ids, request.stages)
    except PlanError as err:
        raise InvalidInput(str(err)) from err
    first = engine.start(len(stages), request.soak, request.approvals)
    previous = {item.device_id: item for item in deploy.deployments(device_ids)}
    previous_images = deploy.agent_images(device_ids) if request.agent_image else {}
    with transaction.atomic():
        if Rollout.objects.filter(name=request.name).exists():
            raise InvalidInput(f"a rollout named {request.name!r} exists already")
        rollout = Rollout.objects.create(
            name=request.name,
            model_version=version,
            agent_image=request.agent_image,
            selector=request.selector.model_dump(mode="json"),
            stages=list(request.stages[: len(stages)]),
            approvals=sorted(request.approvals),
            soak_s=int(request.soak.total_seconds()),
            baseline_s=int(request.baseline.total_seconds()),
            bounds=request.bounds.model_dump(mode="json"),
            phase=Phase.RUNNING,
            stage=0,
            created_by=actor,
        )
        RolloutDevice.objects.bulk_create(
            RolloutDevice(
                rollout=rollout,
                device_id=device_id,
                stage=index,
                previous_version_id=_previous_version(previous.get(device_id)),
                previous_agent_image=previous_images.get(device_id, ""),
            )
            for index, members in enumerate(stages)
            for device_id in members
        )
        _apply(rollout, first, actor)
    return rollout


def _target_version(request: RolloutRequest) -> ModelVersion | None:
    """The model version a model rollout rolls out (None for an agent rollout), once the
    request names exactly one target."""
    if (request.model_version_id is None) == (not request.agent_image):
        raise InvalidInput("a rollout rolls out either a model version or an agent image")
    if request.model_version_id is None:
        deploy.agent_version_of(request.agent_image)  # InvalidInput without a version tag
        return None
    try:
        return ModelVersion.objects.get(pk=request.model_version_id)
    except ModelVersion.DoesNotExist as err:
        raise NotFound(f"model version {request.model_version_id} does not exist") from err


def _assign(rollout: Rollout, device_ids: list[str], reason: str, actor: str) -> None:
    """Assign the rollout's model or agent image to `device_ids`."""
    if rollout.model_version is None:
        deploy.assign_agent_image(device_ids, rollout.agent_image, actor=actor, reason=reason)
    else:
        deploy.assign_model(device_ids, rollout.model_version, actor=actor, reason=reason)


def _apply(rollout: Rollout, step: Transition, actor: str) -> None:
    """Store `step` and do what it says to devices; inside the caller's transaction."""
    now = timezone.now()
    touched: list[str] = []
    if step.assign_stage is not None:
        members = RolloutDevice.objects.filter(rollout=rollout, stage=step.assign_stage)
        touched = sorted(members.values_list("device_id", flat=True))
        _assign(rollout, touched, f"rollout {rollout.name}, stage {step.assign_stage + 1}", actor)
        members.update(assigned_at=now)
    if step.roll_back:
        touched = _roll_back(rollout, step.roll_back, actor, now)
    progress = step.progress
    rollout.phase = progress.phase
    rollout.stage = progress.stage
    rollout.holding_since = progress.holding_since
    rollout.save(update_fields=["phase", "stage", "holding_since", "updated_at"])
    RolloutEvent.objects.create(
        rollout=rollout,
        at=now,
        actor=actor,
        action=step.action,
        phase=progress.phase,
        stage=progress.stage,
        reason=step.reason,
        devices=touched,
    )
    logger.info("rollout %s: %s by %s: %s", rollout.name, step.action, actor, step.reason)


def _on_new_model(rollout: Rollout) -> QuerySet[RolloutDevice]:
    """The rollout's devices assigned the new model so far and not rolled back."""
    return RolloutDevice.objects.filter(
        rollout=rollout, assigned_at__isnull=False, rolled_back_at__isnull=True
    )


def _roll_back(rollout: Rollout, device_ids: Sequence[str], actor: str, now: datetime) -> list[str]:
    """Assign each device its previous model (or agent image); return the devices that had one
    to go back to."""
    members = _on_new_model(rollout).filter(device_id__in=device_ids)
    agent = rollout.model_version is None
    by_previous: dict[int | str, list[str]] = defaultdict(list)
    for member in members:
        previous = member.previous_agent_image if agent else member.previous_version_id
        if previous:
            by_previous[previous].append(member.device_id)
    versions = {} if agent else ModelVersion.objects.in_bulk(list(by_previous))
    reason = f"rollout {rollout.name}: rolled back"
    for previous, devices in by_previous.items():
        if isinstance(previous, str):
            deploy.assign_agent_image(sorted(devices), previous, actor=actor, reason=reason)
        else:
            deploy.assign_model(sorted(devices), versions[previous], actor=actor, reason=reason)
    done = sorted(device for devices in by_previous.values() for device in devices)
    members.filter(device_id__in=done).update(rolled_back_at=now)
    return done


def _adoption(
    rollout: Rollout, deployment: deploy.DeviceDeployment | None, agent_version: str
) -> tuple[Adoption, str]:
    if deployment is None or deployment.drift in (deploy.Drift.PENDING, deploy.Drift.UNPUBLISHED):
        return Adoption.PENDING, ""
    reported = deployment.reported
    assert reported is not None
    if deployment.drift is deploy.Drift.FAILED:
        return Adoption.REFUSED, reported.error
    version = rollout.model_version
    if version is None:
        # The agent took the desired generation and handed the image to its host; it runs the
        # image once the agent that reconnects reports the image's version.
        running_image = agent_version == deploy.agent_version_of(rollout.agent_image)
        return Adoption.RUNNING if running_image else Adoption.PENDING, ""
    running = {(camera.get("name"), camera.get("version")) for camera in reported.cameras}
    if running != {(version.name, version.version)}:
        # The reported state is the truth: a device that swapped back by itself runs the old one.
        names = ", ".join(sorted(f"{name} {number}" for name, number in running)) or "no model"
        return Adoption.REFUSED, f"reports {names} running"
    return Adoption.PENDING if reported.error else Adoption.RUNNING, ""


def judge(rollout: Rollout, now: datetime) -> StageJudgement:
    """The gate's judgement of every device assigned so far and not rolled back."""
    bounds = GateBounds.model_validate(rollout.bounds)
    members = list(_on_new_model(rollout))
    found = {item.device_id: item for item in deploy.deployments([m.device_id for m in members])}
    versions = dict(
        Device.objects.filter(pk__in=[m.device_id for m in members]).values_list(
            "pk", "agent_version"
        )
    )
    baseline_span = timedelta(seconds=rollout.baseline_s)
    adoptions = []
    windows = []  # Each device's baseline window, and its current one where it runs the model.
    for member in members:
        assert member.assigned_at is not None
        deployment = found.get(member.device_id)
        adoption, refusal = _adoption(rollout, deployment, versions.get(member.device_id, ""))
        windows.append(
            Window(member.device_id, member.assigned_at - baseline_span, member.assigned_at)
        )
        current = None
        if adoption is Adoption.RUNNING and deployment and deployment.reported:
            since = max(member.assigned_at, deployment.reported.received_at)
            current = Window(member.device_id, since, now) if since < now else None
        if current is not None:
            windows.append(current)
        adoptions.append((member.device_id, adoption, refusal, current is not None))
    # One query for every device's health, so that judging stays cheap for a large stage.
    stats = iter(windows_stats(windows))
    evidence = [
        DeviceEvidence(
            device_id, adoption, next(stats), next(stats) if has_current else None, refusal
        )
        for device_id, adoption, refusal, has_current in adoptions
    ]
    return judge_stage(evidence, bounds)


def _locked() -> QuerySet[Rollout]:
    """Rollouts with their model version, whose rows a query locks until the transaction ends.

    Only the rollout's own row (`of=("self",)`): an agent rollout has no model version, and
    PostgreSQL refuses FOR UPDATE on the nullable side of the outer join that fetches it
    (SQLite, which has no row locks, never shows this).
    """
    return Rollout.objects.select_for_update(of=("self",)).select_related("model_version")


def tick(rollout_id: int, now: datetime | None = None) -> str | None:
    """Let the gate judge a running rollout once and act on it; the action taken, if any."""
    now = now or timezone.now()
    with transaction.atomic():
        rollout = _locked().get(pk=rollout_id)
        step = engine.observe(_progress(rollout), judge(rollout, now), now)
        if step is None:
            return None
        _apply(rollout, step, GATE_ACTOR)
        return step.action


def running_rollouts() -> list[int]:
    """The ids of the rollouts the gate drives."""
    return list(Rollout.objects.filter(phase=Phase.RUNNING).values_list("pk", flat=True))


def act(name: str, action: str, actor: str, reason: str = "") -> Rollout:
    """An operator's action on the rollout `name`: pause, resume, abort, rollback or approve.

    NotFound for an unknown rollout; InvalidInput for an action that does not apply now.
    """
    with transaction.atomic():
        try:
            rollout = _locked().get(name=name)
        except Rollout.DoesNotExist as err:
            raise NotFound(f"no rollout named {name!r}") from err
        if action not in ACTIONS:
            raise InvalidInput(f"unknown action {action!r}")
        touched = _on_new_model(rollout).values_list("device_id", flat=True)
        try:
            step = _transition(_progress(rollout), action, tuple(sorted(touched)))
        except TransitionError as err:
            raise InvalidInput(f"cannot {action} rollout {name!r}: {err}") from err
        if reason:
            step = replace(step, reason=f"{step.reason}: {reason}")
        _apply(rollout, step, actor)
    return rollout


OPERATOR_ACTIONS = {
    "pause": engine.pause,
    "resume": engine.resume,
    "abort": engine.abort,
    "approve": engine.approve,
}
"""Actions that need nothing but the rollout's progress (rollback also needs its devices)."""


def _transition(progress: Progress, action: str, touched: tuple[str, ...]) -> Transition:
    """The state machine's step for an operator's `action` (one of `ACTIONS`); TransitionError
    when it does not apply. `touched`: the devices a rollback puts back."""
    if action == "rollback":
        return engine.roll_back(progress, touched)
    return OPERATOR_ACTIONS[action](progress)


ACTIONS = ("pause", "resume", "abort", "rollback", "approve")
"""Every operator action, in the order the command and the pages offer them."""


def available_actions(rollout: Rollout) -> list[str]:
    """The operator actions that apply to `rollout` as it is: those `act` would accept.

    Asked of the state machine itself, so that the pages offer exactly what it allows.
    """
    progress = _progress(rollout)
    available = []
    for action in ACTIONS:
        try:
            _transition(progress, action, ())
        except TransitionError:
            continue
        available.append(action)
    return available


def parse_bounds(values: dict[str, object]) -> GateBounds:
    """`GateBounds` from an operator's values; InvalidInput naming what is wrong."""
    try:
        return GateBounds.model_validate(values)
    except ValidationError as err:
        raise InvalidInput(f"gate bounds: {err}") from err
