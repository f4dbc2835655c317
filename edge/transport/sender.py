"""The threads that drain the outbox through its lanes: one thread per lane (gRPC UploadRecords
for 'record' rows, UploadCrops for 'crop' rows), so a slow crop upload never delays records.

Per lane: peek a batch -> mark the attempt -> `lane.send_batch` -> delete delivered rows,
dead-letter rejected ones, keep the rest. A batch that made no progress (nothing left the spool)
makes that lane back off with jitter; a batch that delivered something resets the backoff and
the lane goes on at once, even when some of its rows were kept, so one row the cloud keeps
refusing cannot throttle the rows behind it. Such a row gets a strike each time it is kept while
others of its batch went through. A row is dead-lettered with the reason and counted, never
retried forever, after `max_strikes` strikes, or once it is older than `max_age_s` while the
cloud refuses it (a strike, or RETRY_LATER now). Rows kept because the cloud could not be
reached (no answer, UNAVAILABLE, a deadline) never expire: a network outage, however long,
loses nothing.

A permanent error stops that lane only (the other keeps going) and is exposed by `failures()`
for the heartbeat and the run summary.

Retries live here and in the outbox, never in the lanes (docs/architecture.md, "Transport").
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ConfigDict, Field

from edge.errors import TransportError
from edge.transport.lane import BatchResult, Lane, Outcome
from edge.transport.outbox import Kind, Outbox, Row
from sightline.backoff import Backoff, BackoffSettings

logger = logging.getLogger(__name__)

_KEPT_WHY = {Outcome.RETRY: "the cloud asked to retry it", Outcome.UNACKED: "it got no ack"}


class SenderSettings(BaseModel):
    """Batching, retry timing and retry bounds of the sender lanes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    record_batch: int = Field(default=50, gt=0, description="Records per UploadRecords stream.")
    crop_batch: int = Field(default=16, gt=0, description="Crops per UploadCrops stream.")
    idle_poll_s: float = Field(
        default=0.5, gt=0, description="How often an idle lane looks for new rows."
    )
    backoff: BackoffSettings = Field(
        default=BackoffSettings(), description="Waits after a batch that made no progress."
    )
    max_strikes: int = Field(
        default=50,
        gt=0,
        description="A row kept (retry asked, or no ack) this many times while other rows of its "
        "batches were delivered is dead-lettered and counted.",
    )
    max_age_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="A row older than this (since it was spooled) is dead-lettered and counted "
        "once the cloud answers RETRY_LATER for it or it has a strike. Rows kept only because "
        "the cloud was unreachable never expire.",
    )

    def batch(self, kind: Kind) -> int:
        """Batch size of one kind."""
        return self.record_batch if kind == "record" else self.crop_batch


@dataclass(frozen=True, slots=True)
class SenderCounters:
    """Rows handled by one lane since the sender started."""

    sent: int = 0
    """Rows handed to the lane (each attempt counts)."""
    acked: int = 0
    """Rows the cloud stored now."""
    duplicates: int = 0
    """Rows the cloud already had (delivered by an earlier, unacknowledged attempt)."""
    rejected: int = 0
    """Rows dead-lettered because the cloud (or the lane) refused them for good."""
    retries: int = 0
    """Rows kept for a later attempt."""
    expired: int = 0
    """Rows dead-lettered because they were kept too often or too long (see `SenderSettings`)."""

    @property
    def delivered(self) -> int:
        """Rows the cloud acknowledged: stored now or already had."""
        return self.acked + self.duplicates


@dataclass
class _LaneState:
    kind: Kind
    lane: Lane
    backoff: Backoff
    counters: SenderCounters = SenderCounters()
    not_before: float = 0.0
    failure: TransportError | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


class Sender:
    """Drains the outbox, one thread per lane, until `stop` is set."""

    def __init__(
        self,
        outbox: Outbox,
        lanes: Mapping[Kind, Lane],
        stop: threading.Event,
        settings: SenderSettings | None = None,
    ) -> None:
        self._outbox = outbox
        self._stop = stop
        self._settings = settings or SenderSettings()
        self._lanes = {
            kind: _LaneState(kind, lane, Backoff(self._settings.backoff))
            for kind, lane in lanes.items()
        }
        self._lock = threading.Lock()

    def start(self) -> None:
        """Run each lane's loop on a new daemon thread."""
        for state in self._lanes.values():
            state.thread = threading.Thread(
                target=self._run, args=(state,), name=f"sender-{state.kind}", daemon=True
            )
            state.thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the lane threads to end (set `stop` first); `timeout` bounds the whole."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for state in self._lanes.values():
            if state.thread is not None:
                state.thread.join(None if deadline is None else max(0, deadline - time.monotonic()))

    def alive(self) -> bool:
        """Whether any lane thread is still running."""
        return any(s.thread is not None and s.thread.is_alive() for s in self._lanes.values())

    def wake(self, kind: Kind | None = None) -> None:
        """Look at the outbox now (one lane, or all); callable from any thread.

        Naming a kind also ends its backoff wait: call it when that lane got a fresh chance,
        so the backlog drains at once.
        """
        states = self._lanes.values() if kind is None else (self._lanes[kind],)
        for state in states:
            if kind is not None:
                with self._lock:
                    state.not_before = 0.0
            state.wake.set()

    def counters(self) -> dict[Kind, SenderCounters]:
        """A snapshot of every lane's counters."""
        with self._lock:
            return {kind: state.counters for kind, state in self._lanes.items()}

    def failures(self) -> dict[Kind, TransportError]:
        """Lanes stopped by a permanent error, with the error."""
        with self._lock:
            return {k: s.failure for k, s in self._lanes.items() if s.failure is not None}

    def _run(self, state: _LaneState) -> None:
        """One lane's loop: send while there is progress, sleep when there is nothing to do."""
        logger.info("%s sender started", state.kind)
        while not self._stop.is_set():
            if not self._step(state):
                state.wake.wait(self._idle_wait(state))
                state.wake.clear()
        logger.info("%s sender stopped", state.kind)

    def _idle_wait(self, state: _LaneState) -> float:
        with self._lock:
            wait = state.not_before - time.monotonic()
        return min(self._settings.idle_poll_s, wait) if wait > 0 else self._settings.idle_poll_s

    def _step(self, state: _LaneState) -> bool:
        """One batch if the lane is due; True when it made progress and should go on."""
        with self._lock:
            due = state.failure is None and time.monotonic() >= state.not_before
        if not due:
            return False
        try:
            if not state.lane.ready():
                return False
            rows = self._outbox.peek(state.kind, self._settings.batch(state.kind))
            if not rows:
                return False
            self._outbox.mark_attempt(row.id for row in rows)
            result = state.lane.send_batch(rows)
            return self._apply(state, rows, result)
        except Exception:
            # Thread boundary: a bug in a lane must not end delivery for good.
            logger.exception("sending %s rows failed unexpectedly", state.kind)
            self._back_off(state)
            return False

    def _apply(self, state: _LaneState, rows: list[Row], result: BatchResult) -> bool:
        kind = state.kind
        outcomes = {row.id: result.outcomes.get(row.id, Outcome.UNACKED) for row in rows}
        self._outbox.delete(kind, (row_id for row_id, outcome in outcomes.items() if outcome.done))
        for row in rows:
            if outcomes[row.id] is Outcome.REJECTED:
                reason = result.details.get(row.id, "rejected")
                logger.warning("dead-lettered %s row %s (%s): %s", kind, row.id, row.key, reason)
                self._outbox.dead_letter([row.id], reason)
        tally = Counter(outcomes.values())
        kept = [row for row in rows if outcomes[row.id] in _KEPT_WHY]
        progress = len(kept) < len(rows)
        expired = self._expire(kind, kept, outcomes, progress=progress) if kept else 0
        with self._lock:
            state.counters = replace(
                state.counters,
                sent=state.counters.sent + len(rows),
                acked=state.counters.acked + tally[Outcome.DELIVERED],
                duplicates=state.counters.duplicates + tally[Outcome.DUPLICATE],
                rejected=state.counters.rejected + tally[Outcome.REJECTED],
                retries=state.counters.retries + len(kept) - expired,
                expired=state.counters.expired + expired,
            )
            if result.error is not None and result.error.permanent:
                state.failure = result.error
        if result.error is not None and result.error.permanent:
            logger.error("%s delivery stopped: %s", kind, result.error)
            return False
        if kept or result.error is not None:
            logger.info(
                "%s delivery incomplete (%d of %d rows kept): %s",
                kind,
                len(kept),
                len(rows),
                result.error or "retry requested",
            )
        if not progress:
            self._back_off(state)
            return False
        state.backoff.reset()
        return True

    def _expire(
        self, kind: Kind, kept: list[Row], outcomes: Mapping[int, Outcome], *, progress: bool
    ) -> int:
        """Strike the kept rows of a batch that made progress; dead-letter those past a bound
        (see the module docstring). How many were."""
        if progress:
            self._outbox.strike(row.id for row in kept)
        now = time.time()
        expired = 0
        for row in kept:
            strikes = row.strikes + (1 if progress else 0)
            refused = strikes > 0 or outcomes[row.id] is Outcome.RETRY
            too_old = refused and now - row.created > self._settings.max_age_s
            if strikes < self._settings.max_strikes and not too_old:
                continue
            reason = (
                f"gave up after {row.attempts + 1} attempts ({strikes} while other rows were "
                f"delivered) in {now - row.created:.0f}s: {_KEPT_WHY[outcomes[row.id]]}"
            )
            logger.warning("dead-lettered %s row %s (%s): %s", kind, row.id, row.key, reason)
            expired += self._outbox.dead_letter([row.id], reason)
        return expired

    def _back_off(self, state: _LaneState) -> None:
        delay = state.backoff.next_delay()
        with self._lock:
            state.not_before = time.monotonic() + delay
        logger.debug("%s lane backs off for %.1fs", state.kind, delay)
