"""The retry schedule every Sightline client follows: exponential backoff, equal jitter, a cap.

One policy on both sides of the wire (docs/architecture.md, "Transport"): the edge's MQTT link,
its video sources and its outbox sender, and the cloud's MQTT bridge all wait with this after a
failure, and all own their reconnects rather than leaving them to a client library's fixed-step
schedule. Jitter matters for a fleet: after a broker or ingest restart, thousands of devices
would otherwise retry in lockstep. This is "equal jitter" (AWS Architecture Blog, "Exponential
Backoff And Jitter"): each wait is drawn from [d/2, d] with d = min(cap, base * 2**attempt), so
waits still grow but never collapse to zero the way "full jitter" can.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator


class BackoffSettings(BaseModel):
    """Retry timing: the one config shape of every backoff in the system."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_s: float = Field(default=1.0, gt=0, description="Upper bound of the first wait.")
    max_s: float = Field(default=60.0, gt=0, description="Cap on any single wait.")

    @model_validator(mode="after")
    def _cap_not_below_initial(self) -> BackoffSettings:
        if self.max_s < self.initial_s:
            raise ValueError("max_s must be at least initial_s")
        return self


class Backoff:
    """Successive waits for one retrying activity; not thread-safe (one owner thread)."""

    def __init__(self, settings: BackoffSettings, rng: random.Random | None = None) -> None:
        self._settings = settings
        self._rng = rng or random.Random()
        self._failures = 0
        self._exponent = 0

    @property
    def failures(self) -> int:
        """Failures in a row: calls to `next_delay` since the last `reset`."""
        return self._failures

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; each call counts one more failure."""
        ceiling = min(self._settings.max_s, self._settings.initial_s * 2.0**self._exponent)
        self._failures += 1
        # Stop growing the exponent once capped, so it never overflows a float.
        if ceiling < self._settings.max_s:
            self._exponent += 1
        return self._rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        """Forget past failures (call after a success)."""
        self._failures = 0
        self._exponent = 0
