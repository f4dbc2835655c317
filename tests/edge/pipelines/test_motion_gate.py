"""The motion gate on real vtest.avi frames: when it lets the detector run, and its settings.

The pipeline with the gate on, with the real detector, is in test_python.py; detector calls saved
and tracks lost on whole clips are measured by tests/bench/bench_gating.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from edge.geometry import Box
from edge.pipelines.motion_gate import MotionGate, MotionGateSettings

WHOLE = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
LEFT_TOP = ((0.0, 0.0), (0.5, 0.0), (0.5, 0.5), (0.0, 0.5))
RIGHT_HALF = ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))


@pytest.fixture
def still(vtest_frames: list[np.ndarray]) -> np.ndarray:
    return vtest_frames[0]


@pytest.fixture
def moved(still: np.ndarray) -> np.ndarray:
    """The still frame with real pixels from elsewhere in it pasted into its top-left quarter:
    motion there and nowhere else."""
    frame = still.copy()
    frame[40:200, 60:220] = still[380:540, 500:660]
    return frame


def settled(settings: MotionGateSettings, still: np.ndarray, frames: int = 10) -> MotionGate:
    """A gate that has seen `frames` frames of the still scene at 10 fps, the detector run on
    the first (it found nothing to track)."""
    gate = MotionGate(settings.model_copy(update={"enabled": True}))
    assert gate.should_detect(still, 0.0), "the first frame always runs the detector"
    gate.detected(0.0, [])
    for index in range(1, frames):
        gate.should_detect(still, index / 10)
    return gate


def test_a_static_scene_keeps_the_gate_shut_until_the_idle_interval(still: np.ndarray) -> None:
    gate = settled(MotionGateSettings(idle_interval_s=2.0), still, frames=1)
    shut = [gate.should_detect(still, index / 10) for index in range(1, 20)]
    assert not any(shut)
    assert gate.should_detect(still, 2.0)


def test_motion_opens_the_gate(still: np.ndarray, moved: np.ndarray) -> None:
    gate = settled(MotionGateSettings(), still)
    assert not gate.should_detect(still, 1.0)
    assert gate.should_detect(moved, 1.1)


def test_motion_on_a_tracked_object_waits_for_the_track_interval(
    still: np.ndarray, moved: np.ndarray
) -> None:
    gate = settled(MotionGateSettings(track_interval_s=0.5), still)
    gate.detected(1.0, [Box(70.0, 50.0, 210.0, 190.0)])  # over the pasted patch
    assert not gate.should_detect(moved, 1.1)
    assert gate.should_detect(moved, 1.5)


def test_motion_away_from_the_tracks_opens_the_gate(still: np.ndarray, moved: np.ndarray) -> None:
    gate = settled(MotionGateSettings(track_interval_s=0.5), still)
    gate.detected(1.0, [Box(600.0, 400.0, 700.0, 560.0)])  # far from the pasted patch
    assert gate.should_detect(moved, 1.1)


@pytest.mark.parametrize(
    ("roi", "masks", "opens"),
    [
        ((), (LEFT_TOP,), False),
        ((), (RIGHT_HALF,), True),
        ((RIGHT_HALF,), (), False),
        ((LEFT_TOP,), (), True),
        ((WHOLE,), (LEFT_TOP,), False),
    ],
)
def test_regions_of_interest_and_masks_decide_where_motion_counts(
    still: np.ndarray,
    moved: np.ndarray,
    roi: tuple[tuple[tuple[float, float], ...], ...],
    masks: tuple[tuple[tuple[float, float], ...], ...],
    opens: bool,
) -> None:
    gate = settled(MotionGateSettings.model_validate({"roi": roi, "masks": masks}), still)
    assert gate.should_detect(moved, 1.1) is opens


def test_grey_frames_work_too(still: np.ndarray, moved: np.ndarray) -> None:
    gate = settled(MotionGateSettings(), still[:, :, 1].copy())
    assert not gate.should_detect(still[:, :, 1].copy(), 1.0)
    assert gate.should_detect(moved[:, :, 1].copy(), 1.1)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"roi": [[[0, 0], [1, 1]]]}, "at least 3 points"),
        ({"masks": [[[0, 0], [1.5, 0], [1, 1]]]}, "less than or equal to 1"),
        ({"roi": [[[0, 0], [0.5, 0.5], [1, 1]]]}, "enclose an area"),
        ({"track_interval_s": 6.0, "idle_interval_s": 5.0}, "track_interval_s <= idle"),
        ({"treshold": 20}, "Extra inputs are not permitted"),
        ({"min_area": 0}, "greater than 0"),
    ],
)
def test_bad_settings_are_clear_errors(settings: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        MotionGateSettings.model_validate(settings)


def test_off_by_default() -> None:
    assert MotionGateSettings().enabled is False
