"""The rollout state machine: gate outcomes, soak, approvals and operator actions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud.rollouts import engine
from cloud.rollouts.engine import Phase, Progress, TransitionError
from cloud.rollouts.gate import DeviceJudgement, StageJudgement, Verdict

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SOAK = timedelta(minutes=5)


def stage_judged(**verdicts: Verdict) -> StageJudgement:
    devices = tuple(
        DeviceJudgement(device, verdict, ("fps fell",) if verdict is Verdict.FAILS else ())
        for device, verdict in verdicts.items()
    )
    overall = (
        Verdict.FAILS
        if Verdict.FAILS in verdicts.values()
        else Verdict.WAITING
        if Verdict.WAITING in verdicts.values()
        else Verdict.PASSES
    )
    return StageJudgement(overall, devices)


HOLDS = stage_judged(a=Verdict.PASSES, b=Verdict.PASSES)
WAITS = stage_judged(a=Verdict.PASSES, b=Verdict.WAITING)


def run_through(progress: Progress, judgement: StageJudgement, *times: datetime) -> Progress:
    for now in times:
        step = engine.observe(progress, judgement, now)
        if step is not None:
            progress = step.progress
    return progress


def test_a_new_rollout_assigns_its_first_stage() -> None:
    step = engine.start(3, SOAK)
    assert step.progress.phase is Phase.RUNNING
    assert step.assign_stage == 0


def test_a_stage_advances_only_after_the_gate_held_for_the_soak_time() -> None:
    progress = engine.start(3, SOAK).progress
    first = engine.observe(progress, HOLDS, T0)
    assert first is not None and first.progress.holding_since == T0 and first.assign_stage is None
    assert engine.observe(first.progress, HOLDS, T0 + SOAK - timedelta(seconds=1)) is None
    moved = engine.observe(first.progress, HOLDS, T0 + SOAK)
    assert moved is not None
    assert (moved.action, moved.assign_stage, moved.progress.stage) == ("advance", 1, 1)
    assert moved.progress.holding_since is None


def test_a_break_in_the_gate_restarts_the_soak() -> None:
    progress = run_through(engine.start(2, SOAK).progress, HOLDS, T0)
    broken = engine.observe(progress, WAITS, T0 + timedelta(minutes=4))
    assert broken is not None and broken.progress.holding_since is None
    again = run_through(broken.progress, HOLDS, T0 + timedelta(minutes=6))
    assert again.holding_since == T0 + timedelta(minutes=6)
    assert again.stage == 0


def test_the_last_stage_completes_the_rollout() -> None:
    progress = engine.start(1, SOAK).progress
    done = run_through(progress, HOLDS, T0, T0 + SOAK)
    assert done.phase is Phase.COMPLETED


def test_a_failed_gate_pauses_and_rolls_back_only_the_failing_devices() -> None:
    progress = engine.start(3, SOAK).progress
    step = engine.observe(progress, stage_judged(a=Verdict.PASSES, b=Verdict.FAILS), T0)
    assert step is not None
    assert step.progress.phase is Phase.PAUSED
    assert step.roll_back == ("b",)
    assert "b: fps fell" in step.reason


def test_resume_goes_on_with_the_same_stage() -> None:
    paused = engine.pause(engine.start(3, SOAK).progress).progress
    resumed = engine.resume(paused)
    assert (resumed.progress.phase, resumed.progress.stage, resumed.assign_stage) == (
        Phase.RUNNING,
        0,
        None,
    )


def test_a_stage_asking_for_approval_waits_for_it() -> None:
    progress = engine.start(3, SOAK, approvals=frozenset({1})).progress
    waiting = run_through(progress, HOLDS, T0, T0 + SOAK)
    assert waiting.phase is Phase.AWAITING_APPROVAL
    assert engine.observe(waiting, HOLDS, T0 + 2 * SOAK) is None
    approved = engine.approve(waiting)
    assert (approved.progress.phase, approved.assign_stage) == (Phase.RUNNING, 1)


def test_a_first_stage_asking_for_approval_assigns_nothing_before_it() -> None:
    step = engine.start(2, SOAK, approvals=frozenset({0}))
    assert step.progress.phase is Phase.AWAITING_APPROVAL and step.assign_stage is None
    assert engine.approve(step.progress).assign_stage == 0


def test_rollback_puts_back_every_touched_device_and_ends_the_rollout() -> None:
    progress = engine.start(2, SOAK).progress
    step = engine.roll_back(progress, ("a", "b"))
    assert step.progress.phase is Phase.ROLLED_BACK and step.roll_back == ("a", "b")
    with pytest.raises(TransitionError, match="already rolled back"):
        engine.roll_back(step.progress, ("a",))


@pytest.mark.parametrize(
    ("action", "phase", "problem"),
    [
        (engine.approve, Phase.RUNNING, "not awaiting approval"),
        (engine.resume, Phase.RUNNING, "not paused"),
        (engine.pause, Phase.PAUSED, "only a running rollout pauses"),
        (engine.abort, Phase.COMPLETED, "already completed"),
    ],
)
def test_actions_out_of_place_are_refused(action: object, phase: Phase, problem: str) -> None:
    progress = Progress(phase, 0, 3, SOAK)
    with pytest.raises(TransitionError, match=problem):
        action(progress)  # type: ignore[operator]


def test_nothing_is_observed_unless_running() -> None:
    paused = Progress(Phase.PAUSED, 0, 3, SOAK)
    assert engine.observe(paused, HOLDS, T0) is None
