"""The object store contract shared by every backend.

Crops, model artifacts and other blobs are stored under keys built by
`cloud.lib.objectstore.keys`; what a key may look like is fixed in
`cloud.lib.objectstore.validation`. Each backend module holds its settings model (a subclass of
`ObjectStoreSettingsBase` with a ``type`` literal) and a class that satisfies `ObjectStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

Clock = Callable[[], datetime]
"""Returns the current time as an aware datetime; injected so URL expiry can be tested."""

DEFAULT_MAX_OBJECT_BYTES = 64 * 1024 * 1024


def utc_now() -> datetime:
    """Return the current time in UTC (the default `Clock`)."""
    return datetime.now(UTC)


class ObjectStoreSettingsBase(BaseModel):
    """Fields every object store backend accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_object_bytes: int = Field(
        default=DEFAULT_MAX_OBJECT_BYTES,
        gt=0,
        description=(
            "Largest object `put` accepts, in bytes. Objects are held in memory whole, so this "
            "bounds the memory one upload can take. The default (64 MiB) fits crops and models."
        ),
    )


@dataclass(frozen=True)
class ObjectInfo:
    """What `ObjectStore.stat` knows about one stored object."""

    key: str
    size: int
    """Length of the object's bytes."""
    content_type: str
    etag: str
    """Opaque version tag: it changes whenever the bytes change. Compare it, do not parse it."""
    last_modified: datetime | None
    """When the object was last written (aware, UTC); None if the server did not say."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """User metadata given to `put`, with lower-cased keys whatever the server returns."""


class ObjectStore(Protocol):
    """A flat namespace of byte objects addressed by keys (one S3 bucket or one directory).

    Contract for every implementation:

    - Keys and prefixes follow `cloud.lib.objectstore.validation`; a bad key, metadata or
      content type raises `InvalidObjectRequest` before any I/O.
    - Errors are `ObjectStoreError` subclasses; callers retry only when ``err.permanent`` is
      false (`ObjectStoreUnavailable`). `ObjectStoreAuthError` means the credentials are wrong
      and is permanent.
    - Instances are safe to share between threads.
    - `ensure_bucket()` must have run once (at deploy or start-up) before objects are used;
      until then operations may raise `BucketNotFound`.
    """

    def ensure_bucket(self) -> None:
        """Create the bucket (or root directory) if it does not exist; idempotent."""
        ...

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store `data` under `key`, replacing any object there together with its metadata.

        Idempotent: repeating a put with the same arguments leaves the same object, which is what
        makes retried uploads safe (docs/architecture.md, "Identity and idempotency"). Two
        concurrent puts of one key leave one of them whole. Raises `ObjectTooLarge` when `data`
        exceeds the ``max_object_bytes`` setting.
        """
        ...

    def get(self, key: str) -> bytes:
        """Return the object's bytes; raise `ObjectNotFound` when there is none."""
        ...

    def stat(self, key: str) -> ObjectInfo:
        """Return the object's size, content type, etag and metadata; raise `ObjectNotFound`."""
        ...

    def exists(self, key: str) -> bool:
        """Return whether an object is stored under `key`."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key succeeds (idempotent)."""
        ...

    def list(self, prefix: str = "") -> Iterator[str]:
        """Yield every key that starts with `prefix`, each once, in no promised order.

        The prefix is a plain string prefix, not a directory: ``"crops/cam"`` matches
        ``"crops/cam1/..."``. Listing is recursive. The order is left open because S3 servers
        differ (AWS sorts by UTF-8 bytes, SeaweedFS walks directory by directory); sort if it
        matters. Keys written while the iterator runs may or may not appear.
        """
        ...

    def presigned_get_url(self, key: str, expires: timedelta) -> str:
        """Return a URL that lets its holder read `key` without credentials until it expires.

        `expires` must lie between 1 second and 7 days. The object need not exist yet. The URL
        is absolute for S3; the local backend returns a path that the web app serves after
        checking its signature.
        """
        ...
