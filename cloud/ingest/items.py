"""One ack per item of an upload stream: the mechanics UploadCrops and UploadRecords share.

Both methods follow one contract (ingest.proto): every item of the authenticated device gets
exactly one ack, in order, as soon as it is stored or refused; an item that names another
device fails the whole stream with PERMISSION_DENIED. An `ItemKind` says how to read one kind
of request and build its ack; `acked_items` runs the stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db import DatabaseError, close_old_connections
from google.protobuf.message import Message

from cloud.ingest.errors import PermissionDenied
from cloud.ingest.status import item_failure
from cloud.ingest.wire import quoted
from sightline.ingest.v1 import ingest_pb2

Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)


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
) -> Iterator[Response]:
    """Store each request of `device_id`'s stream with `store` and yield its ack.

    `store` returns True when it stored the item, False for a repeat (DUPLICATE); whatever it
    raises becomes the item's ack (`cloud.ingest.status.item_failure`), never the stream's end.
    An item of another device raises `PermissionDenied`: the device is misconfigured or forging,
    and every later item would fail the same way, so the call fails (ingest.proto's header),
    which the edge treats as permanent and surfaces.
    """
    for request in requests:
        claimed = kind.device_id(request)
        if claimed is not None and claimed != device_id:
            raise PermissionDenied(f"device {device_id!r} may not upload for {quoted(claimed)}")
        yield _answer(request, kind, store)


def _answer(
    request: Request, kind: ItemKind[Request, Response], store: Callable[[Request], bool]
) -> Response:
    try:
        stored = store(request)
    except Exception as err:
        # The item boundary: one item's failure is its ack, never the stream's end.
        if isinstance(err, DatabaseError):
            # A lost connection stays broken until closed; this lets the next item reconnect
            # instead of failing the same way until the stream ends. Only after an error, so
            # the items that succeed pay no health check.
            close_old_connections()
        status, message = item_failure(kind.name, kind.item_id(request), err)
        return kind.ack(request, status, message)
    status = ingest_pb2.ACK_STATUS_STORED if stored else ingest_pb2.ACK_STATUS_DUPLICATE
    return kind.ack(request, status, "")
