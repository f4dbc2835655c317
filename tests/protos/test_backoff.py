from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from sightline.backoff import Backoff, BackoffSettings


def test_waits_double_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(BackoffSettings(initial_s=1.0, max_s=8.0), random.Random(7))
    waits = [backoff.next_delay() for _ in range(7)]
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    for wait, ceiling in zip(waits, ceilings, strict=True):
        assert ceiling / 2 <= wait <= ceiling
    # Jitter: devices with different seeds do not retry in lockstep.
    assert len(set(waits[3:])) == 4


def test_reset_starts_again_from_the_initial_wait() -> None:
    backoff = Backoff(BackoffSettings(initial_s=1.0, max_s=60.0), random.Random(1))
    for _ in range(5):
        backoff.next_delay()
    assert backoff.failures == 5
    backoff.reset()
    assert backoff.failures == 0
    assert 0.5 <= backoff.next_delay() <= 1.0


def test_many_failures_never_overflow() -> None:
    backoff = Backoff(BackoffSettings(initial_s=0.5, max_s=30.0), random.Random(3))
    for _ in range(5000):
        wait = backoff.next_delay()
    assert 15.0 <= wait <= 30.0
    assert backoff.failures == 5000


def test_a_cap_below_the_first_wait_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_s must be at least initial_s"):
        BackoffSettings(initial_s=10.0, max_s=1.0)
