"""What a sender lane (MQTT publish, gRPC crop upload) reports for one batch of outbox rows.

A lane only talks to the network; the `Sender` applies the outcomes to the outbox, so the
delete / dead-letter / keep rules live in one place for both transports.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from edge.errors import TransportError
from edge.transport.outbox import Row


class Outcome(enum.Enum):
    """What happened to one row."""

    DELIVERED = "delivered"
    """The cloud stored it now: delete it."""
    DUPLICATE = "duplicate"
    """The cloud had it already (an earlier attempt got through): delete it."""
    REJECTED = "rejected"
    """The cloud will never accept it: dead-letter it, never retry."""
    RETRY = "retry"
    """The cloud asked to try again later: keep it, back off."""
    UNACKED = "unacked"
    """No answer (stream or connection ended, timeout): keep it, re-send it unchanged."""

    @property
    def done(self) -> bool:
        """True when the row leaves the spool as delivered."""
        return self in (Outcome.DELIVERED, Outcome.DUPLICATE)


@dataclass(frozen=True)
class BatchResult:
    """Per-row outcomes of one `send_batch`, plus how the exchange ended."""

    outcomes: Mapping[int, Outcome]
    """Outcome by row id, one for every row sent."""
    details: Mapping[int, str] = field(default_factory=dict)
    """Why, by row id, for REJECTED rows (logged and stored with the dead letter)."""
    error: TransportError | None = None
    """Set when the exchange failed as a whole; `permanent` decides whether to keep trying."""


class Lane(Protocol):
    """One transport that delivers outbox rows of one kind."""

    def ready(self) -> bool:
        """Whether a batch may be sent now (False while disconnected: rows simply wait)."""

    def send_batch(self, rows: Sequence[Row]) -> BatchResult:
        """Send the rows, wait for the acks (bounded by a deadline) and report each outcome.

        Never raises for network trouble: that is reported as UNACKED outcomes plus `error`.
        """
