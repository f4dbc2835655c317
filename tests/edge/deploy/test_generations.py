"""edge.deploy.generations: a desired generation is applied once, in order."""

from __future__ import annotations

import pytest

from edge.deploy.generations import Decision, decide


@pytest.mark.parametrize(
    ("generation", "applied", "decision"),
    [
        (1, 0, Decision.APPLY),
        (5, 3, Decision.APPLY),  # generations may be skipped while offline
        (3, 3, Decision.CURRENT),  # the retained copy on a reconnect
        (2, 3, Decision.STALE),  # a late delivery of an older one
        (0, 0, Decision.CURRENT),  # nothing was ever desired
    ],
)
def test_a_desired_generation_is_applied_only_when_newer(
    generation: int, applied: int, decision: Decision
) -> None:
    assert decide(generation, applied) is decision


def test_a_generation_that_failed_is_tried_again_when_it_comes_again() -> None:
    # A failed generation is not recorded as applied, so its next delivery applies it.
    applied = 3
    assert decide(4, applied) is Decision.APPLY
    assert decide(4, applied) is Decision.APPLY
