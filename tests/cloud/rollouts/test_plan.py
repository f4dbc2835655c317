"""Stage plans: sizes, the order devices join in, and refused plans."""

from __future__ import annotations

import pytest

from cloud.rollouts.plan import DEFAULT_STAGES, PlanError, StageSize, join_order, plan_stages

DEVICES = [f"cam-box-{n:03d}" for n in range(200)]


def test_the_default_plan_is_a_canary_then_ten_fifty_and_every_device() -> None:
    stages = plan_stages("r1", DEVICES, DEFAULT_STAGES)
    assert [len(stage) for stage in stages] == [1, 19, 80, 100]
    assert sorted(device for stage in stages for device in stage) == sorted(DEVICES)


def test_percentages_round_up_and_every_stage_takes_at_least_one_device() -> None:
    assert StageSize.parse("10%").devices(3) == 1
    assert StageSize.parse("34%").devices(3) == 2
    assert StageSize.parse("5").devices(3) == 3
    assert [len(stage) for stage in plan_stages("r", ["a", "b", "c"], ["1", "50%", "100%"])] == [
        1,
        1,
        1,
    ]


def test_the_join_order_is_stable_per_rollout_and_differs_between_rollouts() -> None:
    assert join_order("r1", DEVICES) == join_order("r1", list(reversed(DEVICES)))
    canaries = {join_order(f"r{n}", DEVICES)[0] for n in range(20)}
    assert len(canaries) > 10


def test_a_small_fleet_still_grows_by_a_device_per_stage_and_skips_empty_stages() -> None:
    eight = DEVICES[:8]
    assert [len(stage) for stage in plan_stages("r", eight, DEFAULT_STAGES)] == [1, 1, 2, 4]
    assert [len(stage) for stage in plan_stages("r", eight[:2], DEFAULT_STAGES)] == [1, 1]


def test_a_resumed_rollout_picks_the_same_devices() -> None:
    assert plan_stages("r7", DEVICES, DEFAULT_STAGES) == plan_stages("r7", DEVICES, DEFAULT_STAGES)


@pytest.mark.parametrize(
    ("sizes", "problem"),
    [
        ([], "at least one stage"),
        (["1", "50%"], "end with 100%"),
        (["50%", "10%", "100%"], "fewer than the 100 the stage before asked for"),
        (["0%", "100%"], "above 0%"),
        (["150%"], "at most 100%"),
        (["ten"], "neither a device count"),
        (["-1", "100%"], "neither a device count"),
    ],
)
def test_plans_that_cannot_work_are_refused(sizes: list[str], problem: str) -> None:
    with pytest.raises(PlanError, match=problem):
        plan_stages("r", DEVICES, sizes)


def test_a_selector_matching_nothing_is_refused() -> None:
    with pytest.raises(PlanError, match="matches no device"):
        plan_stages("r", [], DEFAULT_STAGES)
