"""Which devices each stage of a rollout takes: pure, so that a plan can be shown before it runs.

A rollout's stages are sizes, each either a device count ("1", a canary) or a share of the
targeted devices ("10%"); every stage takes the devices of the stages before it plus new ones,
until the last stage, which must cover every device (the rollout is only complete when all run
the new model). The order devices join in is fixed by a hash of the rollout id and the device
id: stable across restarts of the cloud (a resumed rollout picks the same devices), different
between rollouts (the same unlucky device is not always the canary), and spread over sites and
hardware rather than alphabetical.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

_SIZE = re.compile(r"^(?:(?P<count>[1-9][0-9]*)|(?P<percent>[0-9]+(?:\.[0-9]+)?)%)$")

DEFAULT_STAGES = ("1", "10%", "50%", "100%")
"""A canary device, then a tenth, half, and every device."""


class PlanError(ValueError):
    """Stage sizes that cannot make a plan; the message says which and why."""


@dataclass(frozen=True)
class StageSize:
    """One stage's size: an absolute device count or a percentage of the targeted devices."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> StageSize:
        """`"1"` or `"10%"`; PlanError otherwise."""
        match = _SIZE.match(text.strip())
        if match is None:
            raise PlanError(f"stage size {text!r} is neither a device count (5) nor a share (10%)")
        if match["count"] is not None:
            return cls(count=int(match["count"]))
        percent = float(match["percent"])
        if not 0 < percent <= 100:
            raise PlanError(f"stage size {text!r} must be above 0% and at most 100%")
        return cls(percent=percent)

    def devices(self, total: int) -> int:
        """How many of `total` devices the stage covers (at least 1, at most `total`)."""
        if self.count is not None:
            wanted = self.count
        else:
            assert self.percent is not None
            wanted = math.ceil(total * self.percent / 100)
        return max(1, min(total, wanted))

    def __str__(self) -> str:
        return str(self.count) if self.count is not None else f"{self.percent:g}%"


def join_order(rollout_key: str, device_ids: Sequence[str]) -> list[str]:
    """`device_ids` in the order they join the rollout `rollout_key` (see the module docstring)."""

    def rank(device_id: str) -> bytes:
        return hashlib.sha256(f"{rollout_key}\x00{device_id}".encode()).digest()

    return sorted(set(device_ids), key=lambda device_id: (rank(device_id), device_id))


def plan_stages(
    rollout_key: str, device_ids: Sequence[str], sizes: Sequence[str]
) -> list[list[str]]:
    """The devices each stage adds, in stage order; every device in exactly one stage.

    Each stage adds at least one device; stages after every device is covered are left out (a
    plan for a small fleet has fewer stages). PlanError when there is no stage or no device,
    when a size is smaller than the one before it, or when the last stage leaves devices out.
    """
    if not sizes:
        raise PlanError("a rollout needs at least one stage")
    order = join_order(rollout_key, device_ids)
    if not order:
        raise PlanError("the selector matches no device")
    stages: list[list[str]] = []
    covered = asked = 0
    for number, text in enumerate(sizes, start=1):
        size = StageSize.parse(text)
        wanted = size.devices(len(order))
        if wanted < asked:
            raise PlanError(
                f"stage {number} ({size}) reaches {wanted} of {len(order)} devices, fewer than "
                f"the {asked} the stage before asked for: stage sizes must grow"
            )
        asked = wanted
        if covered == len(order):
            break  # A small fleet is covered early; the stages left would be empty.
        # Rounding may leave a stage no larger than the one before: it still takes one more
        # device, so that every stage of a small fleet tests something new.
        reach = max(wanted, covered + 1)
        stages.append(order[covered:reach])
        covered = reach
    if covered < len(order):
        raise PlanError(
            f"the last stage ({sizes[-1]}) reaches {covered} of {len(order)} devices: end with "
            "100% so that every targeted device gets the model"
        )
    return stages
