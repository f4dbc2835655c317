"""The one place where ingest errors become gRPC status codes and per-item acks.

A whole call fails with a status code only when no item of it can succeed (bad credentials,
a device acting for another one, too many streams). A single item's failure becomes its ack
instead, by the classification of `cloud.ingest.failures`: the item's own fault is
REJECTED_INVALID (the edge drops it), anything on the cloud's side RETRY_LATER (the edge keeps
it), so a server problem can never make a device throw data away.
"""

from __future__ import annotations

import logging

import grpc
from django.db import DatabaseError

from cloud.errors import InvalidInput, NotFound
from cloud.ingest.errors import PermissionDenied, TooManyStreams, Unauthenticated
from cloud.ingest.failures import Failure, classify, refused_by_database
from sightline.ingest.v1 import ingest_pb2

logger = logging.getLogger(__name__)

_CALL_STATUS: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (TooManyStreams, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (DatabaseError, grpc.StatusCode.UNAVAILABLE),
)


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


def item_failure(kind: str, item: str, error: Exception) -> tuple[ingest_pb2.AckStatus, str]:
    """The ack status and message for an item (a `kind` named `item`) that raised `error`.

    Classified by `cloud.ingest.failures` and logged here, once: the item's fault is
    REJECTED_INVALID (the edge drops and counts it), anything else RETRY_LATER (the edge keeps
    it), so a server problem never makes a device throw data away and a refused item never
    comes back.
    """
    failure = classify(error)
    if failure is Failure.REJECTED:
        if refused_by_database(error):
            # A content the checks let through: the item is rejected all the same, and the
            # missing check shows up in the logs.
            logger.warning("database refused %s %s; rejected it: %s", kind, item, error)
            return ingest_pb2.ACK_STATUS_REJECTED_INVALID, "refused by the database"
        logger.info("rejected %s %s: %s", kind, item, error)
        return ingest_pb2.ACK_STATUS_REJECTED_INVALID, str(error)
    if failure is Failure.TRANSIENT:
        logger.warning("could not store %s %s: %s", kind, item, error)
        return ingest_pb2.ACK_STATUS_RETRY_LATER, "storage temporarily unavailable"
    logger.error("could not store %s %s", kind, item, exc_info=error)
    return ingest_pb2.ACK_STATUS_RETRY_LATER, "internal error"
