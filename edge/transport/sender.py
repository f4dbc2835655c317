"""The loop that drains the outbox through its lanes (MQTT for 'mqtt' rows, gRPC for 'crop').

Per kind: peek a batch -> mark the attempt -> `lane.send_batch` -> delete delivered rows,
dead-letter rejected ones, keep the rest. Anything kept (or a failed exchange) makes that kind
back off with jitter; a success resets its backoff. A permanent error stops that kind only
(the other lane keeps going) and is exposed by `failures()` for the health report.

Retries live here and in the outbox, never in the lanes (docs/architecture.md, "Transport").
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict, Field

from edge.errors import TransportError
from edge.transport.lane import BatchResult, Lane, Outcome
from edge.transport.outbox import Kind, Outbox, Row
from sightline.backoff import Backoff, BackoffSettings

logger = logging.getLogger(__name__)


class SenderSettings(BaseModel):
    """Batching and retry timing of the sender loop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mqtt_batch: int = Field(default=50, gt=0, description="MQTT messages per batch.")
    crop_batch: int = Field(default=16, gt=0, description="Crops per UploadCrops stream.")
    idle_poll_s: float = Field(
        default=0.5, gt=0, description="How often an idle sender looks for new rows."
    )
    backoff: BackoffSettings = Field(
        default=BackoffSettings(), description="Waits after a failed or partly failed batch."
    )

    def batch(self, kind: Kind) -> int:
        """Batch size of one kind."""
        return self.mqtt_batch if kind == "mqtt" else self.crop_batch


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
    """Rows dead-lettered."""
    retries: int = 0
    """Rows kept for a later attempt."""


@dataclass
class _LaneState:
    lane: Lane
    backoff: Backoff
    counters: SenderCounters = SenderCounters()
    not_before: float = 0.0
    failure: TransportError | None = None


class Sender:
    """Drains the outbox on its own thread until `stop` is set."""

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
            kind: _LaneState(lane, Backoff(self._settings.backoff)) for kind, lane in lanes.items()
        }
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Run the loop on a new daemon thread."""
        self._thread = threading.Thread(target=self.run, name="outbox-sender", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the loop thread to end (set `stop` first)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self, kind: Kind | None = None) -> None:
        """Look at the outbox now; callable from any thread.

        Naming a kind also ends its backoff wait: call it when that lane got a fresh chance
        (the MQTT link just connected), so the backlog drains at once.
        """
        if kind is not None:
            with self._lock:
                self._lanes[kind].not_before = 0.0
        self._wake.set()

    def counters(self) -> dict[Kind, SenderCounters]:
        """A snapshot of every lane's counters."""
        with self._lock:
            return {kind: state.counters for kind, state in self._lanes.items()}

    def failures(self) -> dict[Kind, TransportError]:
        """Lanes stopped by a permanent error, with the error."""
        with self._lock:
            return {k: s.failure for k, s in self._lanes.items() if s.failure is not None}

    def run(self) -> None:
        """The loop: drain every lane that is due, sleep when there is nothing to do."""
        logger.info("outbox sender started for %s", ", ".join(self._lanes))
        while not self._stop.is_set():
            busy = False
            for kind, state in self._lanes.items():
                if self._stop.is_set():
                    break
                busy |= self._step(kind, state)
            if not busy:
                self._wake.wait(self._idle_wait())
                self._wake.clear()
        logger.info("outbox sender stopped")

    def _idle_wait(self) -> float:
        now = time.monotonic()
        waits = [s.not_before - now for s in self._lanes.values() if s.not_before > now]
        return min([self._settings.idle_poll_s, *waits])

    def _step(self, kind: Kind, state: _LaneState) -> bool:
        """One batch of `kind` if it is due; True when it made progress and should go on."""
        if state.failure is not None or time.monotonic() < state.not_before:
            return False
        try:
            if not state.lane.ready():
                return False
            rows = self._outbox.peek(kind, self._settings.batch(kind))
            if not rows:
                return False
            self._outbox.mark_attempt(row.id for row in rows)
            result = state.lane.send_batch(rows)
            return self._apply(kind, state, rows, result)
        except Exception:
            # Thread boundary: a bug in a lane must not end delivery for good.
            logger.exception("sending %s rows failed unexpectedly", kind)
            self._back_off(kind, state)
            return False

    def _apply(self, kind: Kind, state: _LaneState, rows: list[Row], result: BatchResult) -> bool:
        by_id = {row.id: row for row in rows}
        outcomes = {row.id: result.outcomes.get(row.id, Outcome.UNACKED) for row in rows}
        self._outbox.delete(row_id for row_id, outcome in outcomes.items() if outcome.done)
        for row_id, outcome in outcomes.items():
            if outcome is Outcome.REJECTED:
                reason = result.details.get(row_id, "rejected")
                logger.warning(
                    "dead-lettered %s row %s (%s): %s", kind, row_id, by_id[row_id].key, reason
                )
                self._outbox.dead_letter([row_id], reason)
        tally = Counter(outcomes.values())
        kept = tally[Outcome.RETRY] + tally[Outcome.UNACKED]
        with self._lock:
            state.counters = replace(
                state.counters,
                sent=state.counters.sent + len(rows),
                acked=state.counters.acked + tally[Outcome.DELIVERED],
                duplicates=state.counters.duplicates + tally[Outcome.DUPLICATE],
                rejected=state.counters.rejected + tally[Outcome.REJECTED],
                retries=state.counters.retries + kept,
            )
        if result.error is not None and result.error.permanent:
            with self._lock:
                state.failure = result.error
            logger.error("%s delivery stopped: %s", kind, result.error)
            return False
        if result.error is not None or kept:
            logger.info(
                "%s delivery incomplete (%d of %d rows kept): %s",
                kind,
                kept,
                len(rows),
                result.error or "retry requested",
            )
            self._back_off(kind, state)
            return False
        state.backoff.reset()
        return True

    def _back_off(self, kind: Kind, state: _LaneState) -> None:
        delay = state.backoff.next_delay()
        state.not_before = time.monotonic() + delay
        logger.debug("%s lane backs off for %.1fs", kind, delay)
