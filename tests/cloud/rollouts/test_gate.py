"""The health gate with fixed figures: each device against its own baseline."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from cloud.rollouts.gate import (
    Adoption,
    DeviceEvidence,
    GateBounds,
    Verdict,
    judge_device,
    judge_stage,
)


@dataclass(frozen=True)
class Figures:
    sample_count: int = 12
    mean_fps: float | None = 10.0
    latency_p95_ms: float | None = 40.0
    errors: int = 0
    detections_per_minute: float | None = 60.0


BASELINE = Figures()
BOUNDS = GateBounds()


def running(device_id: str = "d1", **current: Any) -> DeviceEvidence:
    return DeviceEvidence(device_id, Adoption.RUNNING, BASELINE, replace(BASELINE, **current))


def test_a_device_as_healthy_as_before_passes() -> None:
    assert (
        judge_device(running(mean_fps=9.0, latency_p95_ms=55.0), BOUNDS).verdict is Verdict.PASSES
    )


@pytest.mark.parametrize(
    ("current", "reason"),
    [
        ({"mean_fps": 7.0}, "fps 7.0 is 30% below its baseline 10.0"),
        ({"mean_fps": None}, "no frames through the detector"),
        ({"latency_p95_ms": 80.0}, "detector p95 80 ms is 100% above"),
        ({"errors": 2}, "2 errors against 0 on the old model"),
        ({"detections_per_minute": 0.0}, "0.0 detections/min against 60.0"),
        ({"detections_per_minute": 200.0}, "+233%"),
    ],
)
def test_a_device_worse_than_its_baseline_fails_and_says_why(
    current: dict[str, Any], reason: str
) -> None:
    judgement = judge_device(running(**current), BOUNDS)
    assert judgement.verdict is Verdict.FAILS
    assert any(reason in text for text in judgement.reasons), judgement.reasons


def test_detections_are_not_compared_on_a_quiet_baseline() -> None:
    quiet = DeviceEvidence(
        "d1",
        Adoption.RUNNING,
        replace(BASELINE, detections_per_minute=0.5),
        replace(BASELINE, detections_per_minute=0.0),
    )
    assert judge_device(quiet, BOUNDS).verdict is Verdict.PASSES


def test_a_refusal_fails_at_once_with_the_device_reason() -> None:
    evidence = DeviceEvidence("d1", Adoption.REFUSED, BASELINE, None, "signature mismatch")
    judgement = judge_device(evidence, BOUNDS)
    assert judgement.verdict is Verdict.FAILS
    assert judgement.reasons == ("refused: signature mismatch",)


def test_a_device_not_yet_running_or_without_enough_heartbeats_waits() -> None:
    pending = DeviceEvidence("d1", Adoption.PENDING, BASELINE, None)
    assert judge_device(pending, BOUNDS).verdict is Verdict.WAITING
    assert judge_device(running(sample_count=2), BOUNDS).verdict is Verdict.WAITING


def test_without_a_baseline_a_device_is_judged_on_errors_alone() -> None:
    fresh = DeviceEvidence("d1", Adoption.RUNNING, None, replace(BASELINE, mean_fps=1.0))
    assert judge_device(fresh, BOUNDS).verdict is Verdict.PASSES
    broken = DeviceEvidence("d1", Adoption.RUNNING, None, replace(BASELINE, errors=3))
    assert judge_device(broken, BOUNDS).verdict is Verdict.FAILS


def test_one_failing_device_fails_the_stage_and_is_named() -> None:
    stage = judge_stage([running("a"), running("b", mean_fps=2.0), running("c")], BOUNDS)
    assert stage.verdict is Verdict.FAILS
    assert stage.with_verdict(Verdict.FAILS) == ("b",)
    assert stage.with_verdict(Verdict.PASSES) == ("a", "c")


def test_a_stage_holds_only_when_few_enough_devices_wait() -> None:
    offline = DeviceEvidence("z", Adoption.PENDING, BASELINE, None)
    devices = [running("a"), running("b"), running("c"), offline]
    assert judge_stage(devices, BOUNDS).verdict is Verdict.WAITING
    lenient = GateBounds(max_waiting=0.25)
    assert judge_stage(devices, lenient).verdict is Verdict.PASSES
    assert judge_stage([offline], lenient).verdict is Verdict.WAITING


def test_a_stage_needs_min_devices_passing() -> None:
    bounds = GateBounds(min_devices=3, max_waiting=0.5)
    two = [running("a"), running("b"), DeviceEvidence("c", Adoption.PENDING, BASELINE, None)]
    assert judge_stage(two, bounds).verdict is Verdict.WAITING
    assert judge_stage([*two[:2], running("c")], bounds).verdict is Verdict.PASSES


def test_bounds_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        GateBounds.model_validate({"max_fps_dorp": 0.1})
