"""Errors raised by every object store backend.

Callers decide whether to retry by reading ``permanent`` only (the healthchecks
``TransportError(permanent=...)`` idea): a Celery task or the gRPC ingest servicer retries on
``ObjectStoreError`` whose ``permanent`` is false and gives up on the rest.
"""

from __future__ import annotations


class ObjectStoreError(Exception):
    """Base class of all object store errors."""

    permanent: bool = True
    """True when repeating the same call cannot succeed (a bad request, a bad config)."""


class ObjectStoreUnavailable(ObjectStoreError):
    """The store could not be reached, timed out or answered with a server error; retry later."""

    permanent = False


class ObjectStoreAuthError(ObjectStoreError):
    """The store refused the credentials (wrong key, bad signature, no permission)."""


class BackendUnavailable(ObjectStoreError):
    """The backend's SDK is not installed in this image; the message says what to install."""


class BucketNotFound(ObjectStoreError):
    """An operation ran before ``ensure_bucket()`` created the bucket (or root directory)."""


class ObjectNotFound(ObjectStoreError):
    """No object is stored under the key."""


class InvalidObjectRequest(ObjectStoreError, ValueError):
    """The call itself is wrong (bad key, bad metadata, bad content type); never retry it."""


class ObjectTooLarge(InvalidObjectRequest):
    """The object is larger than the store's ``max_object_bytes`` setting."""


class PresignedUrlInvalid(ObjectStoreError):
    """A presigned URL is expired, tampered with or malformed; serve it as 403 Forbidden."""


class PresignedUrlExpired(PresignedUrlInvalid):
    """A presigned URL that was valid has expired; serve it as 410 Gone."""
