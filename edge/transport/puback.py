"""Matching MQTT PUBACKs to the publishes they answer, on one connection.

A PUBACK names only a packet id (1..65535), and paho hands ids out round-robin without checking
whether one is still waiting for its ack. So an ack that arrives after its publish was given up
on (the wait timed out), or one nobody waited for, must never confirm a LATER publish that got
the same id (review finding: stale PUBACKs). The tracker therefore:

- registers every publish (`publish`) and resolves, per packet id, the OLDEST publish still
  waiting: the broker acks one connection's QoS 1 publishes in order, so a late ack belongs to
  the earlier publish and a publish that reuses the id waits for its own;
- keeps a publish registered after its wait timed out, so its late ack has somewhere to go;
- accepts an ack that beats its publish's registration (paho's network thread can read the
  PUBACK before `publish()` returns) only if it arrived after that publish started, and drops any
  other ack for an id nobody waits for.

One tracker per connection: a new connection (a new paho client) starts with a new one, so acks
can never cross connections either. Thread-safe: `acked` and `end` run on paho's network thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from paho.mqtt.reasoncodes import ReasonCode

logger = logging.getLogger(__name__)


class Publish:
    """One tracked publish; `reason` is its PUBACK reason once acknowledged."""

    def __init__(self, mid: int, what: str) -> None:
        self.mid = mid
        self.what = what
        """What was published (for logs and errors)."""
        self.reason: ReasonCode | None = None


class PublishTracker:
    """Tracks the publishes of one connection (see the module docstring)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: dict[int, deque[Publish]] = {}
        self._unclaimed: dict[int, tuple[int, ReasonCode]] = {}
        self._acks_seen = 0
        self._ended = False

    def publish(self, send: Callable[[], tuple[bool, int]], what: str) -> Publish | None:
        """Call `send` (it publishes and returns (accepted, packet id)) and track the publish;
        None when the client did not accept it (connection gone)."""
        with self._cond:
            started = self._acks_seen
        accepted, mid = send()
        if not accepted:
            return None
        tracked = Publish(mid, what)
        with self._cond:
            early = self._unclaimed.pop(mid, None)
            if early is not None and early[0] > started:
                tracked.reason = early[1]  # its ack beat the registration
            else:
                self._waiting.setdefault(mid, deque()).append(tracked)
        return tracked

    def acked(self, mid: int, reason: ReasonCode) -> Publish | None:
        """Record a PUBACK; returns the publish it answers, None when it answers none yet."""
        with self._cond:
            self._acks_seen += 1
            waiting = self._waiting.get(mid)
            if not waiting:
                # Either the publish is about to register (kept, stamped with this arrival) or
                # nobody waits for it; a stale one is dropped at the next publish of this id.
                self._unclaimed[mid] = (self._acks_seen, reason)
                return None
            tracked = waiting.popleft()
            if not waiting:
                del self._waiting[mid]
            tracked.reason = reason
            self._cond.notify_all()
            return tracked

    def end(self) -> None:
        """The connection is gone: no more acks will come; wake every waiter."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def wait(self, tracked: Publish, timeout: float) -> ReasonCode | None:
        """The PUBACK reason of `tracked`, or None if none came within `timeout` or before the
        connection ended. A publish that timed out stays tracked (its late ack is absorbed)."""
        with self._cond:
            self._cond.wait_for(lambda: tracked.reason is not None or self._ended, timeout)
            return tracked.reason
