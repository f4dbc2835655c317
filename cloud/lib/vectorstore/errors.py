"""Errors raised by every vector store backend.

Callers decide whether to retry by reading ``permanent`` only (the healthchecks
``TransportError(permanent=...)`` idea): a Celery task retries on
``VectorStoreError`` whose ``permanent`` is false and gives up on the rest.
"""

from __future__ import annotations


class VectorStoreError(Exception):
    """Base class of all vector store errors."""

    permanent: bool = True
    """True when repeating the same call cannot succeed (a bad request, a bad config)."""


class VectorStoreUnavailable(VectorStoreError):
    """The backend could not be reached or timed out; the same call may succeed later."""

    permanent = False


class BackendUnavailable(VectorStoreError):
    """The backend's SDK is not installed in this image; the message says what to install."""


class VectorStoreAuthError(VectorStoreError):
    """The backend refused the credentials or the permission."""


class InvalidRequest(VectorStoreError, ValueError):
    """The call itself is wrong (bad vector, naive datetime, bad argument); never retry it."""


class DimensionMismatch(InvalidRequest):
    """A vector's length differs from the dimension the store was built with."""


class CollectionMismatch(VectorStoreError):
    """The existing collection was created with another dimension or an incompatible schema."""


class CollectionNotFound(VectorStoreError):
    """An operation ran before ``ensure_collection()`` created the collection."""
