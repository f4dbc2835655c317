"""The one place where ingest errors become gRPC status codes and per-item acks.

A whole call fails with a status code only when no item of it can succeed (bad credentials,
a device acting for another one). A single item's failure becomes its ack instead: the item's
own fault is REJECTED_INVALID (the edge drops it), anything on the cloud's side RETRY_LATER
(the edge keeps it), so a server problem can never make a device throw data away.
"""

from __future__ import annotations

import logging

import grpc
from django.db import DatabaseError

from cloud.errors import InvalidInput, NotFound
from cloud.ingest.errors import PermissionDenied, Unauthenticated
from cloud.lib.objectstore import InvalidObjectRequest, ObjectStoreError
from sightline.ingest.v1 import ingest_pb2

logger = logging.getLogger(__name__)

_CALL_STATUS: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (DatabaseError, grpc.StatusCode.UNAVAILABLE),
)

# Errors that are the item's fault; checked before the store's own (transient) errors because
# InvalidObjectRequest is also an ObjectStoreError.
_ITEM_FAULTS = (InvalidInput, NotFound, InvalidObjectRequest)


def call_status(error: Exception) -> tuple[grpc.StatusCode, str]:
    """The status code and detail that end a call which raised `error`.

    Domain errors carry their message to the client, database errors a generic one (their
    text may name hosts); anything else is logged with its traceback here and reported as
    INTERNAL without details.
    """
    for kind, code in _CALL_STATUS:
        if isinstance(error, kind):
            if code is grpc.StatusCode.UNAVAILABLE:
                return code, "storage temporarily unavailable"
            return code, str(error)
    logger.error("ingest call failed", exc_info=error)
    return grpc.StatusCode.INTERNAL, "internal error"


def item_ack(detection_id: str, error: Exception) -> ingest_pb2.UploadCropsResponse:
    """The ack for an item whose handling raised `error` (logged here, once)."""
    if isinstance(error, _ITEM_FAULTS):
        logger.info("rejected crop %s: %s", detection_id, error)
        status, message = ingest_pb2.ACK_STATUS_REJECTED_INVALID, str(error)
    elif isinstance(error, ObjectStoreError | DatabaseError):
        # Permanent store errors (bad credentials, missing bucket) are still the cloud's
        # problem: the operator fixes them and the edge's retries then succeed.
        logger.warning("could not store crop %s: %s", detection_id, error)
        status, message = ingest_pb2.ACK_STATUS_RETRY_LATER, "storage temporarily unavailable"
    else:
        logger.error("could not store crop %s", detection_id, exc_info=error)
        status, message = ingest_pb2.ACK_STATUS_RETRY_LATER, "internal error"
    return ingest_pb2.UploadCropsResponse(detection_id=detection_id, status=status, message=message)
