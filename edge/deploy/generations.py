"""Which desired state to act on: generation ordering, pure.

The cloud raises a device's generation by one on every change (`DesiredState.generation`). The
device remembers the last generation it applied successfully; a desired state at it is a repeat
(the retained copy on every reconnect) and one below it is stale: neither changes anything. A
generation it failed to apply is tried again when it arrives again (a reconnect, or the cloud
republishing it with fresh download URLs), since the failure may have been transient. Desired
states are handled one at a time, in arrival order, so a repeat that arrives while its
generation is being applied is decided after it, as a repeat.
"""

from __future__ import annotations

import enum


class Decision(enum.Enum):
    """What to do with a desired state."""

    APPLY = "apply"
    CURRENT = "current"
    """Its generation is the applied one: nothing to do but report."""
    STALE = "stale"
    """Older than the applied generation: ignored."""


def decide(generation: int, applied: int) -> Decision:
    """Decide on a desired `generation`, given the last `applied` one (0: none)."""
    if generation == applied:
        return Decision.CURRENT
    if generation < applied:
        return Decision.STALE
    return Decision.APPLY
