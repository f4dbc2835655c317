"""`LocalObjectStore`: objects as files under one directory (the zero-server default).

Layout under ``root``::

    objects/<segment>/.../<last segment>@data        the object's bytes
    objects/<segment>/.../<last segment>@meta.json   content type, etag and user metadata
    tmp/                                             files being written

``@`` never occurs in a key (see `validation`), so an object file can never collide with the
directory of a longer key (``a/b`` and ``a/b/c`` both work, as on S3), and since segments are
validated, no key can point outside ``objects/``.

Presigned URLs are relative paths ``<url_prefix>/<key>?exp=<unix seconds>&sig=<hex>`` whose
signature is an HMAC-SHA256 over the key and expiry; the web app serves them after
`LocalObjectStore.verify_presigned` accepts them.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlencode

from pydantic import Field, SecretStr

from cloud.lib.objectstore.base import Clock, ObjectInfo, ObjectStoreSettingsBase, utc_now
from cloud.lib.objectstore.errors import (
    BucketNotFound,
    InvalidObjectRequest,
    ObjectNotFound,
    ObjectStoreAuthError,
    ObjectStoreError,
    ObjectStoreUnavailable,
    PresignedUrlExpired,
    PresignedUrlInvalid,
)
from cloud.lib.objectstore.validation import (
    check_size,
    check_url_lifetime,
    normalise_metadata,
    validate_content_type,
    validate_key,
    validate_prefix,
)

logger = logging.getLogger(__name__)

_DATA_SUFFIX = "@data"
_META_SUFFIX = "@meta.json"
_EXPIRY = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")
# Running out of space or a failing disk may clear up; anything else (a read-only mount,
# a file where a directory should be) will not.
_TRANSIENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN})


class LocalObjectStoreSettings(ObjectStoreSettingsBase):
    """Settings of the ``local`` object store backend."""

    type: Literal["local"] = Field(description="Selects this backend.")
    root: Path = Field(description="Directory that holds the objects; ensure_bucket() creates it.")
    url_signing_key: SecretStr = Field(
        min_length=32,
        description="Secret for the HMAC-SHA256 signature of presigned URLs (32+ characters).",
    )
    url_prefix: str = Field(
        default="/objects",
        pattern=r"^(https?://[^/?#]+)?(/[A-Za-z0-9._~-]+)+$",
        description="Path (or absolute URL) where the web app serves presigned objects.",
    )


class LocalObjectStore:
    """An `ObjectStore` kept in a local directory; safe across threads and processes.

    Every file is written to ``tmp/`` and renamed into place, so readers see either the old
    or the new file, never a partial one. The sidecar is renamed before the data file: an
    object becomes visible only once its metadata is in place, and a crash between the two
    renames leaves at worst new metadata beside old bytes, which the retried (idempotent)
    put repairs. Before `put` returns, the files, the new directories and the renames are
    fsynced, so an object whose put returned survives a power cut.
    """

    def __init__(self, settings: LocalObjectStoreSettings, *, clock: Clock = utc_now) -> None:
        """Use the directory named by `settings`; nothing is touched until the first call."""
        self._settings = settings
        self._objects = settings.root / "objects"
        self._tmp = settings.root / "tmp"
        self._signing_key = settings.url_signing_key.get_secret_value().encode()
        self._clock = clock

    def ensure_bucket(self) -> None:
        """Create the root, ``objects/`` and ``tmp/`` directories if missing."""
        with _os_errors(str(self._settings.root)):
            self._objects.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(exist_ok=True)

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Write the object and its sidecar atomically (see the class docstring)."""
        data_path, meta_path = self._paths(key)
        check_size(key, len(data), self._settings.max_object_bytes)
        sidecar = {
            "content_type": validate_content_type(content_type),
            # MD5 because that is what S3 reports for single-part uploads; it is no defence.
            "etag": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "metadata": normalise_metadata(metadata or {}),
        }
        self._require_bucket()
        # Directories are never removed, so a missing one here means the root itself went away.
        with _os_errors(key, on_missing=BucketNotFound(f"{self._settings.root} disappeared")):
            _make_directories(data_path.parent, self._objects)
            self._write_atomically(meta_path, json.dumps(sidecar).encode())
            self._write_atomically(data_path, data)
            # Both renames are durable only once their directory is: without this, a power cut
            # after put returned (and the caller committed a row naming the key) could lose
            # the object. One fsync covers both renames, which share the directory.
            _fsync_directory(data_path.parent)
        logger.debug("stored %s (%d bytes)", key, len(data))

    def get(self, key: str) -> bytes:
        """Return the object's bytes."""
        data_path, _ = self._paths(key)
        self._require_bucket()
        with _os_errors(key):
            return data_path.read_bytes()

    def stat(self, key: str) -> ObjectInfo:
        """Take size and modification time from the data file, the rest from the sidecar."""
        data_path, meta_path = self._paths(key)
        self._require_bucket()
        with _os_errors(key):
            file_stat = data_path.stat()
            raw_sidecar = meta_path.read_bytes()
        try:
            sidecar = json.loads(raw_sidecar)
            return ObjectInfo(
                key=key,
                size=file_stat.st_size,
                content_type=sidecar["content_type"],
                etag=sidecar["etag"],
                last_modified=datetime.fromtimestamp(file_stat.st_mtime, UTC),
                metadata=dict(sidecar["metadata"]),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise ObjectStoreError(f"metadata sidecar of {key!r} is corrupt: {err}") from err

    def exists(self, key: str) -> bool:
        """Return whether the object's data file exists."""
        data_path, _ = self._paths(key)
        return data_path.is_file()

    def delete(self, key: str) -> None:
        """Remove the data file first (the object disappears at once), then the sidecar.

        Emptied directories are left in place: removing them could race with a concurrent put
        creating a file in them, and an empty directory costs nothing.
        """
        data_path, meta_path = self._paths(key)
        self._require_bucket()
        with _os_errors(key):
            data_path.unlink(missing_ok=True)
            meta_path.unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[str]:
        """Walk only the directory that the prefix's complete segments name."""
        validate_prefix(prefix)
        self._require_bucket()
        directory, _, _ = prefix.rpartition("/")
        start = self._objects.joinpath(*directory.split("/")) if directory else self._objects
        keys = []
        # os.walk because Path.walk only arrived in Python 3.12; it skips a missing start.
        for dirpath, _dirnames, filenames in os.walk(start):
            relative = Path(dirpath).relative_to(self._objects)
            for name in filenames:
                if name.endswith(_DATA_SUFFIX):
                    key = (relative / name.removesuffix(_DATA_SUFFIX)).as_posix()
                    if key.startswith(prefix):
                        keys.append(key)
        # Sorted although the contract does not require it: stable output is easier to debug.
        return iter(sorted(keys))

    def presigned_get_url(self, key: str, expires: timedelta) -> str:
        """Return ``<url_prefix>/<key>?exp=<unix seconds>&sig=<hmac>``."""
        validate_key(key)
        check_url_lifetime(expires)
        expires_at = int((self._clock() + expires).timestamp())
        query = urlencode({"exp": expires_at, "sig": self._signature(key, expires_at)})
        return f"{self._settings.url_prefix}/{quote(key)}?{query}"

    def verify_presigned(self, key: str, exp: str, sig: str) -> None:
        """Check a presigned URL's parts as the web app received them (key unquoted).

        Raises `PresignedUrlInvalid` when the key or parameters are malformed, the signature
        does not match, `PresignedUrlExpired` when it has expired (checked last, so only a
        genuine URL is called expired); returns None when the URL may be served.
        """
        try:
            validate_key(key)
        except InvalidObjectRequest as err:
            raise PresignedUrlInvalid("presigned URL names an invalid key") from err
        if not _EXPIRY.fullmatch(exp) or not _SIGNATURE.fullmatch(sig):
            raise PresignedUrlInvalid("presigned URL parameters are malformed")
        expires_at = int(exp)
        if not hmac.compare_digest(self._signature(key, expires_at), sig):
            raise PresignedUrlInvalid("presigned URL signature does not match")
        if self._clock().timestamp() > expires_at:
            raise PresignedUrlExpired("presigned URL has expired")

    def _signature(self, key: str, expires_at: int) -> str:
        message = f"GET\n{key}\n{expires_at}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def _paths(self, key: str) -> tuple[Path, Path]:
        *directories, name = validate_key(key).split("/")
        parent = self._objects.joinpath(*directories)
        return parent / (name + _DATA_SUFFIX), parent / (name + _META_SUFFIX)

    def _require_bucket(self) -> None:
        if not self._objects.is_dir():
            raise BucketNotFound(
                f"object store directory {self._objects} does not exist; run ensure_bucket()"
            )

    def _write_atomically(self, target: Path, payload: bytes) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as tmp_file:
                tmp_file.write(payload)
                tmp_file.flush()
                # fsync before the rename so a power cut cannot leave a renamed but empty file.
                os.fsync(tmp_file.fileno())
            tmp_path.replace(target)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise


def _make_directories(directory: Path, root: Path) -> None:
    """Create `directory` and its missing parents below `root`, each made durable.

    A new directory's entry lives in its parent, so the parent is fsynced after each mkdir
    (`mkdir(parents=True)` would leave them to the next journal flush).
    """
    missing = []
    while directory != root and not directory.is_dir():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)  # another put may have made it meanwhile
        _fsync_directory(new.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _os_errors(key: str, on_missing: ObjectStoreError | None = None) -> Iterator[None]:
    """Translate filesystem errors into the store's errors.

    A missing file raises `on_missing`, by default `ObjectNotFound` for `key`.
    """
    try:
        yield
    except FileNotFoundError as err:
        raise on_missing or ObjectNotFound(f"no object under key {key!r}") from err
    except PermissionError as err:
        raise ObjectStoreAuthError(f"no permission to access {key!r}: {err.strerror}") from err
    except OSError as err:
        error_class = ObjectStoreUnavailable if err.errno in _TRANSIENT_ERRNOS else ObjectStoreError
        raise error_class(f"filesystem error on {key!r}: {err.strerror}") from err
