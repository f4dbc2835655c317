"""The health gate of a rollout stage: pure judgement of each device against its own baseline.

A device of a stage passes when it reports the new model running and its health since then
stays within the rollout's bounds of the same device's health on the old model just before it
was assigned (fps, detector latency, errors, detections per minute; `GateBounds`). Comparing a
device with itself factors out what differs between devices (cameras, scenes, hardware), so
one bound serves a whole fleet. A device that could not apply the model (it reported an error
and runs the old one) fails at once. A device still downloading or building, or offline, is
waiting: it neither passes nor fails, since the retained desired state reaches it when it
returns; the stage holds once enough of its devices pass (`min_devices`, `max_waiting`).

The figures come from `cloud.monitoring.services.window_stats` (`HealthFigures` names what is
read of them); whether the model runs comes from `cloud.deploy.services` (`Adoption`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field


class HealthFigures(Protocol):
    """What the gate reads of a device's health over a window."""

    @property
    def sample_count(self) -> int: ...
    @property
    def mean_fps(self) -> float | None: ...
    @property
    def latency_p95_ms(self) -> float | None: ...
    @property
    def errors(self) -> int: ...
    @property
    def detections_per_minute(self) -> float | None: ...


class GateBounds(BaseModel):
    """How far a device's health on the new model may stray from its own baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_samples: int = Field(
        default=3, ge=1, description="Heartbeats needed on each side before a device is judged."
    )
    max_fps_drop: float = Field(
        default=0.2, ge=0, le=1, description="Largest fall of mean fps, as a share of baseline."
    )
    max_latency_rise: float = Field(
        default=0.5, ge=0, description="Largest rise of detector p95 latency, share of baseline."
    )
    max_new_errors: int = Field(
        default=0,
        ge=0,
        description="Errors allowed in the judged window beyond the baseline window's count.",
    )
    max_detection_change: float = Field(
        default=0.5,
        ge=0,
        description="Largest change of detections per minute either way, share of baseline "
        "(a model that sees nothing, or sees ghosts, fails). Judged only when the baseline "
        "saw at least `min_detections_per_minute`.",
    )
    min_detections_per_minute: float = Field(
        default=1.0, ge=0, description="Below this baseline, detections are not compared."
    )
    min_devices: int = Field(
        default=1, ge=1, description="Devices of a stage that must pass before it holds."
    )
    max_waiting: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of a stage's devices that may still be waiting (offline, "
        "downloading) when it holds; they converge when they return.",
    )


class Adoption(enum.StrEnum):
    """Where a device stands with the model the stage assigned it."""

    RUNNING = "running"
    """It reports the new model running, without error."""
    PENDING = "pending"
    """Not reported yet: offline, downloading, building or warming up."""
    REFUSED = "refused"
    """It reported an error for the assignment and keeps the old model."""


class Verdict(enum.StrEnum):
    """The judgement of one device, or of a whole stage."""

    PASSES = "passes"
    WAITING = "waiting"
    FAILS = "fails"


@dataclass(frozen=True)
class DeviceEvidence:
    """What the gate knows of one device of the stage."""

    device_id: str
    adoption: Adoption
    baseline: HealthFigures | None
    """Its health on the old model, just before the assignment."""
    current: HealthFigures | None
    """Its health since it reported the new model running."""
    refusal: str = ""
    """The device's own reason when `adoption` is REFUSED."""


@dataclass(frozen=True)
class DeviceJudgement:
    device_id: str
    verdict: Verdict
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageJudgement:
    verdict: Verdict
    devices: tuple[DeviceJudgement, ...] = field(default=())

    def with_verdict(self, verdict: Verdict) -> tuple[str, ...]:
        """The ids of the devices judged `verdict`."""
        return tuple(item.device_id for item in self.devices if item.verdict is verdict)


def _relative_change(new: float, old: float) -> float:
    return (new - old) / old


def _health_reasons(
    baseline: HealthFigures, current: HealthFigures, bounds: GateBounds
) -> list[str]:
    reasons = []
    if baseline.mean_fps and current.mean_fps is not None:
        drop = -_relative_change(current.mean_fps, baseline.mean_fps)
        if drop > bounds.max_fps_drop:
            reasons.append(
                f"fps {current.mean_fps:.1f} is {drop:.0%} below its baseline "
                f"{baseline.mean_fps:.1f} (bound {bounds.max_fps_drop:.0%})"
            )
    elif baseline.mean_fps and current.mean_fps is None:
        reasons.append("no frames through the detector since the new model")
    if baseline.latency_p95_ms and current.latency_p95_ms is not None:
        rise = _relative_change(current.latency_p95_ms, baseline.latency_p95_ms)
        if rise > bounds.max_latency_rise:
            reasons.append(
                f"detector p95 {current.latency_p95_ms:.0f} ms is {rise:.0%} above its baseline "
                f"{baseline.latency_p95_ms:.0f} ms (bound {bounds.max_latency_rise:.0%})"
            )
    new_errors = current.errors - baseline.errors
    if new_errors > bounds.max_new_errors:
        reasons.append(
            f"{current.errors} errors against {baseline.errors} on the old model "
            f"(bound {bounds.max_new_errors} more)"
        )
    old_rate, new_rate = baseline.detections_per_minute, current.detections_per_minute
    if old_rate is not None and old_rate >= bounds.min_detections_per_minute:
        change = _relative_change(new_rate or 0.0, old_rate)
        if abs(change) > bounds.max_detection_change:
            reasons.append(
                f"{new_rate or 0.0:.1f} detections/min against {old_rate:.1f} on the old model "
                f"({change:+.0%}, bound ±{bounds.max_detection_change:.0%})"
            )
    return reasons


def judge_device(evidence: DeviceEvidence, bounds: GateBounds) -> DeviceJudgement:
    """Pass, wait or fail one device (see the module docstring)."""
    device_id = evidence.device_id
    if evidence.adoption is Adoption.REFUSED:
        reason = evidence.refusal or "the device could not apply the model"
        return DeviceJudgement(device_id, Verdict.FAILS, (f"refused: {reason}",))
    if evidence.adoption is Adoption.PENDING:
        return DeviceJudgement(device_id, Verdict.WAITING, ("new model not reported running",))
    baseline, current = evidence.baseline, evidence.current
    if current is None or current.sample_count < bounds.min_samples:
        seen = 0 if current is None else current.sample_count
        return DeviceJudgement(
            device_id, Verdict.WAITING, (f"{seen} of {bounds.min_samples} heartbeats",)
        )
    if baseline is None or baseline.sample_count < bounds.min_samples:
        # Nothing to compare with (a new device, or one offline before the assignment): it
        # passes on running the model without errors, which is all that is known.
        if current.errors > bounds.max_new_errors:
            return DeviceJudgement(
                device_id, Verdict.FAILS, (f"{current.errors} errors and no baseline",)
            )
        return DeviceJudgement(device_id, Verdict.PASSES, ("no baseline: judged on errors",))
    reasons = _health_reasons(baseline, current, bounds)
    return DeviceJudgement(device_id, Verdict.FAILS if reasons else Verdict.PASSES, tuple(reasons))


def judge_stage(evidence: Sequence[DeviceEvidence], bounds: GateBounds) -> StageJudgement:
    """The stage fails if any device fails, holds when enough pass and few enough wait, and
    waits otherwise."""
    devices = tuple(judge_device(item, bounds) for item in evidence)
    verdicts = [item.verdict for item in devices]
    if Verdict.FAILS in verdicts:
        return StageJudgement(Verdict.FAILS, devices)
    passing = verdicts.count(Verdict.PASSES)
    waiting = verdicts.count(Verdict.WAITING)
    needed = min(bounds.min_devices, len(devices))
    if passing >= needed and waiting <= bounds.max_waiting * len(devices):
        return StageJudgement(Verdict.PASSES, devices)
    return StageJudgement(Verdict.WAITING, devices)
