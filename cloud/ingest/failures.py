"""Which failures of storing one item are its own fault, which are passing, which are ours.

The one classification both ingest edges apply (docs/architecture.md, "Errors"): the gRPC
servicer turns it into the item's ack (`cloud.ingest.status`), the MQTT bridge into a drop or a
retry (`cloud.ingest.bridge`). The point is that one item can never stall the others: only a
store that is unavailable is waited for; anything a store refuses for the item's content is
refused for good.

- REJECTED, the item's content: `InvalidInput`, `NotFound`, `InvalidObjectRequest`, and the
  database refusing the content (`DataError`: NUL, too long, out of range; `IntegrityError`).
  gRPC: REJECTED_INVALID. Bridge: dropped, logged and counted.
- TRANSIENT, a store unavailable: `OperationalError`, `InterfaceError` (server down, connection
  lost, deadlock, timeout) and any other `ObjectStoreError` (store down or misconfigured).
  gRPC: RETRY_LATER. Bridge: retried with backoff, in order, until it works.
- INTERNAL, anything else (`ProgrammingError`, a bug). gRPC: RETRY_LATER. Bridge: dropped,
  logged with its traceback and counted.

The wire and domain checks are meant to refuse every content a store would refuse, so a
REJECTED database error points at a missing check and is logged as such. INTERNAL is the
cloud's own fault: the edge keeps the item and gives up after its own bound of attempts, while
the bridge drops the message (status and metrics are re-sent anyway), because waiting for a fix
would stall every device behind it.
"""

from __future__ import annotations

import enum

from django.db import DataError, IntegrityError, InterfaceError, OperationalError

from cloud.errors import InvalidInput, NotFound
from cloud.lib.objectstore import InvalidObjectRequest, ObjectStoreError


class Failure(enum.Enum):
    """What kind of failure storing an item raised (see the module docstring)."""

    REJECTED = "rejected"
    """The item's content: retrying the same item can never succeed."""
    TRANSIENT = "transient"
    """A store is unavailable: the same item may well succeed later."""
    INTERNAL = "internal"
    """A bug or misconfiguration of the cloud."""


# Order matters: InvalidObjectRequest is also an ObjectStoreError.
_TABLE: tuple[tuple[tuple[type[Exception], ...], Failure], ...] = (
    ((InvalidInput, NotFound, InvalidObjectRequest), Failure.REJECTED),
    ((DataError, IntegrityError), Failure.REJECTED),
    ((OperationalError, InterfaceError, ObjectStoreError), Failure.TRANSIENT),
)


def classify(error: Exception) -> Failure:
    """The kind of failure `error` is, by the table in the module docstring."""
    for kinds, failure in _TABLE:
        if isinstance(error, kinds):
            return failure
    return Failure.INTERNAL


def refused_by_database(error: Exception) -> bool:
    """True for a REJECTED failure that the database raised, not a check of ours."""
    return isinstance(error, DataError | IntegrityError)
