"""The rollout state machine: pure transitions, which `cloud.rollouts.services` persists.

    RUNNING --gate holds for the soak time--> next stage (RUNNING), or AWAITING_APPROVAL when
            the next stage asks for it, or COMPLETED after the last stage
    RUNNING --gate fails--> PAUSED, and the failing devices go back to their previous model
    AWAITING_APPROVAL --approve--> next stage (RUNNING)
    RUNNING --pause--> PAUSED --resume--> RUNNING (the same stage)
    any live phase --abort--> ABORTED (devices keep what they run now; nothing more is assigned)
    any live phase --rollback--> ROLLED_BACK (every device the rollout touched goes back)

Each transition says what must happen to devices (`Transition.assign_stage`,
`Transition.roll_back`) and why, so that the caller can apply it and write the audit entry in
one database transaction. A transition that does not apply in the current phase raises
`TransitionError`, whose message an operator can act on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cloud.rollouts.gate import StageJudgement, Verdict


class Phase(enum.StrEnum):
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    PAUSED = "paused"
    COMPLETED = "completed"
    ABORTED = "aborted"
    ROLLED_BACK = "rolled_back"

    @property
    def live(self) -> bool:
        """Whether the rollout can still change what devices run."""
        return self in (Phase.RUNNING, Phase.AWAITING_APPROVAL, Phase.PAUSED)


class TransitionError(Exception):
    """The action does not apply to the rollout as it is; the message says why."""


@dataclass(frozen=True)
class Progress:
    """Where a rollout is."""

    phase: Phase
    stage: int
    """Index of the stage being rolled out (or, while awaiting approval, the one finished)."""
    stages: int
    """How many stages the plan has."""
    soak: timedelta
    """How long the gate must hold before the rollout moves on."""
    approvals: frozenset[int] = frozenset()
    """Indexes of the stages that may only start once an operator approves them."""
    holding_since: datetime | None = None
    """Since when the gate of the current stage holds without a break; None while it does not."""


@dataclass(frozen=True)
class Transition:
    """A new `Progress` and what to do to devices to get there."""

    progress: Progress
    action: str
    """Short name of what happened, for the audit log: advance, hold, fail, pause, ..."""
    reason: str
    assign_stage: int | None = None
    """Assign the new model to the devices of this stage."""
    roll_back: tuple[str, ...] = ()
    """Devices to put back on the model they ran before the rollout."""


def start(stages: int, soak: timedelta, approvals: frozenset[int] = frozenset()) -> Transition:
    """A new rollout, rolling out its first stage (which may itself ask for approval)."""
    if stages < 1:
        raise TransitionError("a rollout needs at least one stage")
    progress = Progress(Phase.RUNNING, 0, stages, soak, approvals)
    if 0 in approvals:
        return Transition(
            replace(progress, phase=Phase.AWAITING_APPROVAL, stage=-1),
            "await_approval",
            "stage 1 asks for approval before it starts",
        )
    return Transition(progress, "start", "stage 1 started", assign_stage=0)


def _next_stage(progress: Progress, reason: str) -> Transition:
    following = progress.stage + 1
    if following >= progress.stages:
        return Transition(replace(progress, phase=Phase.COMPLETED), "complete", reason)
    if following in progress.approvals and progress.phase is not Phase.AWAITING_APPROVAL:
        return Transition(
            replace(progress, phase=Phase.AWAITING_APPROVAL, holding_since=None),
            "await_approval",
            f"{reason}; stage {following + 1} asks for approval before it starts",
        )
    return Transition(
        replace(progress, phase=Phase.RUNNING, stage=following, holding_since=None),
        "advance",
        f"{reason}; stage {following + 1} started",
        assign_stage=following,
    )


def observe(progress: Progress, judgement: StageJudgement, now: datetime) -> Transition | None:
    """Apply the gate's judgement of the current stage; None when nothing changes."""
    if progress.phase is not Phase.RUNNING:
        return None
    if judgement.verdict is Verdict.FAILS:
        failing = judgement.with_verdict(Verdict.FAILS)
        details = "; ".join(
            f"{item.device_id}: {', '.join(item.reasons)}"
            for item in judgement.devices
            if item.verdict is Verdict.FAILS
        )
        return Transition(
            replace(progress, phase=Phase.PAUSED, holding_since=None),
            "gate_failed",
            f"stage {progress.stage + 1} gate failed, paused, rolling back {len(failing)} "
            f"device(s): {details}",
            roll_back=failing,
        )
    if judgement.verdict is Verdict.WAITING:
        if progress.holding_since is None:
            return None
        return Transition(replace(progress, holding_since=None), "gate_waiting", "gate broke")
    if progress.holding_since is None:
        return Transition(
            replace(progress, holding_since=now),
            "gate_holds",
            f"stage {progress.stage + 1} gate holds; soaking for {progress.soak}",
        )
    if now - progress.holding_since < progress.soak:
        return None
    return _next_stage(progress, f"stage {progress.stage + 1} held for {progress.soak}")


def approve(progress: Progress) -> Transition:
    """An operator lets the next stage start."""
    if progress.phase is not Phase.AWAITING_APPROVAL:
        raise TransitionError(f"the rollout is {progress.phase}, not awaiting approval")
    return replace(_next_stage(progress, "approved"), action="approve")


def pause(progress: Progress) -> Transition:
    """An operator stops the rollout where it is; devices keep what they run."""
    if progress.phase is not Phase.RUNNING:
        # Awaiting approval, nothing happens until an operator approves: no need to pause.
        raise TransitionError(f"the rollout is {progress.phase}: only a running rollout pauses")
    return Transition(replace(progress, phase=Phase.PAUSED, holding_since=None), "pause", "paused")


def resume(progress: Progress) -> Transition:
    """An operator lets a paused rollout go on with its current stage."""
    if progress.phase is not Phase.PAUSED:
        raise TransitionError(f"the rollout is {progress.phase}, not paused")
    return Transition(replace(progress, phase=Phase.RUNNING), "resume", "resumed")


def abort(progress: Progress) -> Transition:
    """Stop for good; what devices run now stays."""
    if not progress.phase.live:
        raise TransitionError(f"the rollout is already {progress.phase}")
    return Transition(
        replace(progress, phase=Phase.ABORTED, holding_since=None), "abort", "aborted"
    )


def roll_back(progress: Progress, touched: tuple[str, ...]) -> Transition:
    """Stop for good and put every device the rollout `touched` back on its previous model."""
    if progress.phase is Phase.ROLLED_BACK:
        raise TransitionError("the rollout is already rolled back")
    return Transition(
        replace(progress, phase=Phase.ROLLED_BACK, holding_since=None),
        "rollback",
        f"rolling back {len(touched)} device(s)",
        roll_back=touched,
    )
