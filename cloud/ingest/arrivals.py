"""Reading an upload stream in groups of the items that have already arrived.

The ingest stores a stream's items together when several are waiting (one transaction, one
round of object puts: `cloud.ingest.items`), but it must never wait for an item the client has
not sent: a client may send one item and wait for its ack before the next (ingest.proto). A
grpc request iterator can only block for its next item, so a reader thread moves the items into
a queue, and `arrived_groups` takes the first item as soon as it comes and then those that
arrive within a moment behind it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")

# How long a reader blocked on a full queue waits before it looks whether the stream's
# handler has ended (then nobody will take its items any more).
_FULL_RECHECK_S = 0.5


@dataclass(frozen=True)
class _Ended:
    """The request iterator ended: normally (`error` None) or by raising `error`."""

    error: Exception | None


class _Reader(Generic[Item]):
    """Moves a request iterator's items into a queue of at most `limit` items, on its thread."""

    def __init__(self, requests: Iterator[Item], limit: int) -> None:
        self.inbox: queue.Queue[Item | _Ended] = queue.Queue(maxsize=limit)
        self.done = threading.Event()
        self._requests = requests

    def run(self) -> None:
        ended = _Ended(None)
        try:
            for item in self._requests:
                if not self._offer(item):
                    return
        except Exception as err:
            # The thread boundary. Not logged here: the stream's own error (cancelled, past its
            # deadline) belongs to the handler, which raises it where it would have read the
            # item, and the call boundary deals with it (`cloud.ingest.auth`).
            ended = _Ended(err)
        self._offer(ended)

    def _offer(self, entry: Item | _Ended) -> bool:
        """Queue `entry`; False when the handler is gone and nobody will take it."""
        while not self.done.is_set():
            try:
                self.inbox.put(entry, timeout=_FULL_RECHECK_S)
            except queue.Full:
                continue
            return True
        return False


def arrived_groups(requests: Iterator[Item], limit: int, linger_s: float) -> Iterator[list[Item]]:
    """The stream's items in order, in groups: the next item as soon as it arrives, with those
    that arrive behind it within `linger_s`, up to `limit` in all.

    A client sends a batch back to back, yet its items reach the handler one by one, so the
    second comes a moment after the first; without the linger most groups would start with a
    group of one. A client that waits for each ack before it sends the next item waits
    `linger_s` longer per item, never for an item it has not sent.

    Reads ahead at most `limit` items. An error of the request iterator (the call cancelled or
    past its deadline) is raised here, after the groups before it; so is the end of the stream.
    """
    reader = _Reader(requests, limit)
    thread = threading.Thread(target=reader.run, name="ingest-reader", daemon=True)
    thread.start()
    try:
        while True:
            entry = reader.inbox.get()
            deadline = time.monotonic() + linger_s
            group: list[Item] = []
            while not isinstance(entry, _Ended):
                group.append(entry)
                if len(group) == limit:
                    break
                try:
                    entry = reader.inbox.get(timeout=max(deadline - time.monotonic(), 0))
                except queue.Empty:
                    break
            if group:
                yield group
            if isinstance(entry, _Ended):
                if entry.error is not None:
                    raise entry.error
                return
    finally:
        # Also when the handler stops early (a forged item, a cancelled call): the reader stops
        # at its next item instead of waiting on a queue nobody reads.
        reader.done.set()
