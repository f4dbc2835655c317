"""One ack per item of an upload stream: the mechanics UploadCrops and UploadRecords share.

Both methods follow one contract (ingest.proto): every item of the authenticated device gets
exactly one ack, in order, as soon as it is stored or refused; an item that names another
device fails the whole stream with PERMISSION_DENIED. An `ItemKind` says how to read one kind
of request and build its ack; `acked_items` runs the stream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import DatabaseError, close_old_connections
from google.protobuf.message import Message

from cloud.ingest.arrivals import arrived_groups
from cloud.ingest.errors import PermissionDenied
from cloud.ingest.status import item_failure
from cloud.ingest.wire import quoted
from sightline.ingest.v1 import ingest_pb2

logger = logging.getLogger(__name__)

Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)


class StoreAlone(Exception):
    """Raised by a `store_all` for items it does not store together; each is stored alone."""


@dataclass(frozen=True)
class ItemKind(Generic[Request, Response]):
    """How to read one kind of upload request and answer it."""

    name: str
    """What an item is called in logs ("crop", "record")."""
    item_id: Callable[[Request], str]
    """How logs name the item: its idempotency key, which its ack carries (the detection id,
    `quoted` as it comes from the device; the seq)."""
    device_id: Callable[[Request], str | None]
    """The device the item says it comes from; None when it names none (then the wire check
    rejects it as malformed)."""
    ack: Callable[[Request, ingest_pb2.AckStatus, str], Response]
    """The ack of the item with a status and a message."""


def acked_items(
    requests: Iterator[Request],
    device_id: str,
    kind: ItemKind[Request, Response],
    store: Callable[[Request], bool],
    *,
    store_all: Callable[[Sequence[Request]], Sequence[bool]] | None = None,
    group_size: int = 1,
    linger_s: float = 0.0,
) -> Iterator[Response]:
    """Store each request of `device_id`'s stream with `store` and yield its ack.

    `store` returns True when it stored the item, False for a repeat (DUPLICATE); whatever it
    raises becomes the item's ack (`cloud.ingest.status.item_failure`), never the stream's end.
    An item of another device raises `PermissionDenied` once the items before it are answered:
    the device is misconfigured or forging, and every later item would fail the same way, so
    the call fails (ingest.proto's header), which the edge treats as permanent and surfaces.

    With `store_all`, the items that arrive together (up to `group_size` within `linger_s` of
    the first; `cloud.ingest.arrivals`) are stored together: `store_all` stores every
    one of them as new and commits once, or raises having committed none (a repeat among them,
    a refused one, an outage), and then each is stored alone with `store`, so that each still
    gets its own outcome. Either way an ack is sent only after its item's commit.
    """
    groups = (
        arrived_groups(requests, group_size, linger_s)
        if store_all is not None and group_size > 1
        else ([request] for request in requests)
    )
    for group in groups:
        claims = [kind.device_id(request) for request in group]
        forged = next((i for i, c in enumerate(claims) if c not in (None, device_id)), None)
        yield from _answers(group[:forged], kind, store, store_all)
        if forged is not None:
            claimed = quoted(claims[forged] or "")
            raise PermissionDenied(f"device {device_id!r} may not upload for {claimed}")


def _answers(
    group: Sequence[Request],
    kind: ItemKind[Request, Response],
    store: Callable[[Request], bool],
    store_all: Callable[[Sequence[Request]], Sequence[bool]] | None,
) -> Iterator[Response]:
    if store_all is not None and len(group) > 1:
        try:
            outcomes = store_all(group)
        except Exception as err:
            # The group boundary: storing the items one by one below classifies and logs
            # whatever is wrong with each of them (most often, one is a repeat).
            _reconnect_after(err)
            logger.debug("storing %d %ss one by one: %s", len(group), kind.name, err)
        else:
            for request, stored in zip(group, outcomes, strict=True):
                yield _stored_ack(request, kind, stored)
            return
    for request in group:
        yield _answer(request, kind, store)


def _answer(
    request: Request, kind: ItemKind[Request, Response], store: Callable[[Request], bool]
) -> Response:
    try:
        stored = store(request)
    except Exception as err:
        # The item boundary: one item's failure is its ack, never the stream's end.
        _reconnect_after(err)
        status, message = item_failure(kind.name, kind.item_id(request), err)
        return kind.ack(request, status, message)
    return _stored_ack(request, kind, stored)


def _stored_ack(request: Request, kind: ItemKind[Request, Response], stored: bool) -> Response:
    status = ingest_pb2.ACK_STATUS_STORED if stored else ingest_pb2.ACK_STATUS_DUPLICATE
    return kind.ack(request, status, "")


def _reconnect_after(error: Exception) -> None:
    if isinstance(error, DatabaseError):
        # A lost connection stays broken until closed; this lets the next item reconnect
        # instead of failing the same way until the stream ends. Only after an error, so the
        # items that succeed pay no health check.
        close_old_connections()
