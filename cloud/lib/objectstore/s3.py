"""`S3ObjectStore`: one bucket on any S3 API server (AWS, MinIO, SeaweedFS) via the minio SDK.

The SDK is imported when a store is built, not when this module is, so the settings model
validates in images without the ``cloud`` extra. Every SDK and HTTP error is translated into
`cloud.lib.objectstore.errors` in `S3ObjectStore._errors`, the only place that knows S3 codes.
"""

from __future__ import annotations

import io
import ipaddress
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from cloud.lib.objectstore.base import Clock, ObjectInfo, ObjectStoreSettingsBase, utc_now
from cloud.lib.objectstore.errors import (
    BackendUnavailable,
    BucketNotFound,
    ObjectNotFound,
    ObjectStoreAuthError,
    ObjectStoreError,
    ObjectStoreUnavailable,
)
from cloud.lib.objectstore.validation import (
    check_size,
    check_url_lifetime,
    normalise_metadata,
    validate_content_type,
    validate_key,
    validate_prefix,
)

if TYPE_CHECKING:
    from minio.datatypes import Object
    from minio.error import S3Error

logger = logging.getLogger(__name__)

_USER_METADATA_PREFIX = "x-amz-meta-"
_ENDPOINT = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
# S3 error codes (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) that
# mean the credentials or their permissions are wrong: no retry can fix them.
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccountProblem",
        "AllAccessDisabled",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
    }
)
# Codes a server sends when it is overloaded or restarting; 5xx statuses count as well.
_TRANSIENT_CODES = frozenset({"InternalError", "RequestTimeout", "ServiceUnavailable", "SlowDown"})
_RETRY_STATUSES = (500, 502, 503, 504)


class S3ObjectStoreSettings(ObjectStoreSettingsBase):
    """Settings of the ``s3`` object store backend."""

    type: Literal["s3"] = Field(description="Selects this backend.")
    endpoint: str = Field(description="Server address as host[:port], without a scheme.")
    access_key: str = Field(min_length=1, description="Access key id.")
    secret_key: SecretStr = Field(min_length=1, description="Secret access key.")
    bucket: str = Field(description="Bucket holding every object (S3 bucket-name rules).")
    secure: bool = Field(default=True, description="Use HTTPS to reach the endpoint.")
    region: str = Field(
        default="us-east-1",
        min_length=1,
        description=(
            "Bucket region. Always set, so that signing URLs never needs a GetBucketLocation "
            "round trip; MinIO and SeaweedFS accept the default."
        ),
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "Scheme and host browsers use to reach the server (https://s3.example.com), when it "
            "differs from `endpoint`; presigned URLs are signed for this host."
        ),
    )
    ca_file: Path | None = Field(
        default=None, description="PEM bundle that verifies the server's TLS certificate."
    )
    connect_timeout_s: float = Field(default=3.0, gt=0, description="TCP connect timeout.")
    read_timeout_s: float = Field(
        default=30.0, gt=0, description="Longest wait for the next bytes of a response."
    )
    max_retries: int = Field(
        default=2,
        ge=0,
        description=(
            "Retries of one request on connection errors and 5xx answers, with a short backoff; "
            "kept low because callers (outbox, Celery) own the long retries."
        ),
    )
    max_connections: int = Field(
        default=32,
        gt=0,
        description=(
            "Connections kept open to the server: at least the threads that use the store at "
            "once (the ingest server: its max_streams plus 16 put threads). A request beyond "
            "them opens a connection of its own and closes it after, which costs a TCP "
            "handshake and leaves a socket in TIME_WAIT per request."
        ),
    )

    @field_validator("endpoint")
    @classmethod
    def _endpoint_is_host_port(cls, value: str) -> str:
        if not _ENDPOINT.fullmatch(value):
            raise ValueError("endpoint must be host[:port] with no scheme or path (set `secure`)")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket_follows_s3_rules(cls, value: str) -> str:
        if not _BUCKET.fullmatch(value) or ".." in value or _is_ip_address(value):
            raise ValueError(
                "bucket must be 3-63 characters of a-z 0-9 . -, start and end with a letter or "
                "digit, and not look like an IP address"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_is_origin(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            origin_only = parts.path in ("", "/") and not parts.query
            if parts.scheme not in ("http", "https") or not parts.netloc or not origin_only:
                raise ValueError("public_url must be http(s)://host[:port] with no path")
        return value


class S3ObjectStore:
    """An `ObjectStore` over one S3 bucket; thread-safe (the SDK's connection pool is)."""

    def __init__(self, settings: S3ObjectStoreSettings, *, clock: Clock = utc_now) -> None:
        """Build the SDK client; no request is sent until the first call.

        Raises `BackendUnavailable` when the ``minio`` package is missing.
        """
        try:
            import urllib3
            from minio import Minio
        except ModuleNotFoundError as err:
            raise BackendUnavailable(
                "the s3 object store needs the minio package: install the `cloud` extra"
            ) from err
        self._settings = settings
        self._bucket = settings.bucket
        self._clock = clock
        # Our own pool instead of the SDK default (5 retries, 5-minute timeouts), so that a
        # server that is down fails within a second or so. raise_on_status=False hands the
        # last 5xx answer to the SDK, which turns it into an S3Error with the server's code.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(
                connect=settings.connect_timeout_s, read=settings.read_timeout_s
            ),
            maxsize=settings.max_connections,
            retries=urllib3.Retry(
                total=settings.max_retries,
                backoff_factor=0.2,
                status_forcelist=_RETRY_STATUSES,
                raise_on_status=False,
            ),
            ca_certs=str(settings.ca_file) if settings.ca_file else None,
        )
        secret_key = settings.secret_key.get_secret_value()
        self._client = Minio(
            settings.endpoint,
            access_key=settings.access_key,
            secret_key=secret_key,
            secure=settings.secure,
            region=settings.region,
            http_client=http,
        )
        self._signer = self._client
        if settings.public_url is not None:
            public = urlsplit(settings.public_url)
            # Signing is local computation; this client never sends a request.
            self._signer = Minio(
                public.netloc,
                access_key=settings.access_key,
                secret_key=secret_key,
                secure=public.scheme == "https",
                region=settings.region,
                http_client=http,
            )

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists; losing a creation race to ourselves is fine."""
        from minio.error import S3Error

        with self._errors(None):
            if self._client.bucket_exists(self._bucket):
                return
            try:
                self._client.make_bucket(self._bucket)
            except S3Error as err:
                if err.code != "BucketAlreadyOwnedByYou":
                    raise
                return
        logger.info("created bucket %s", self._bucket)

    def put(
        self,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Upload in one PUT (multipart above 5 MiB); metadata travels as x-amz-meta-* headers."""
        validate_key(key)
        check_size(key, len(data), self._settings.max_object_bytes)
        validate_content_type(content_type)
        # Prefixed here rather than by the SDK, which guesses and would send a metadata key
        # like "cache-control" as a real header.
        headers: dict[str, str | list[str] | tuple[str]] = {
            _USER_METADATA_PREFIX + name: value
            for name, value in normalise_metadata(metadata or {}).items()
        }
        with self._errors(key):
            self._client.put_object(
                self._bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                metadata=headers,
            )
        logger.debug("stored %s (%d bytes)", key, len(data))

    def get(self, key: str) -> bytes:
        """Download the whole object."""
        validate_key(key)
        with self._errors(key):
            response = self._client.get_object(self._bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def stat(self, key: str) -> ObjectInfo:
        """HEAD the object; user metadata keys come back lower-cased whatever the server sends."""
        validate_key(key)
        with self._errors(key):
            found = self._client.stat_object(self._bucket, key)
        return _object_info(key, found)

    def exists(self, key: str) -> bool:
        """HEAD the object; a missing bucket also reads as False (HEAD answers carry no code)."""
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        """DELETE the object; S3 answers 204 for missing keys too."""
        validate_key(key)
        with self._errors(key):
            self._client.remove_object(self._bucket, key)

    def list(self, prefix: str = "") -> Iterator[str]:
        """List lazily, page by page; errors surface when the iterator is first advanced."""
        validate_prefix(prefix)
        return self._iter_keys(prefix)

    def presigned_get_url(self, key: str, expires: timedelta) -> str:
        """Sign a SigV4 query-string URL (no request is sent: the region is configured)."""
        validate_key(key)
        check_url_lifetime(expires)
        with self._errors(key):
            url: str = self._signer.presigned_get_object(
                self._bucket, key, expires=expires, request_date=self._clock()
            )
        return url

    def _iter_keys(self, prefix: str) -> Iterator[str]:
        with self._errors(None):
            for found in self._client.list_objects(
                self._bucket, prefix=prefix or None, recursive=True
            ):
                yield found.object_name

    @contextmanager
    def _errors(self, key: str | None) -> Iterator[None]:
        """Translate SDK and HTTP errors into `ObjectStoreError` subclasses."""
        from minio.error import InvalidResponseError, S3Error, ServerError
        from urllib3.exceptions import HTTPError

        try:
            yield
        except S3Error as err:
            raise _translate(err, self._bucket, key) from err
        except (ServerError, InvalidResponseError) as err:
            # A non-S3 answer: usually a proxy's error page while the server restarts.
            raise ObjectStoreUnavailable(
                f"S3 endpoint {self._settings.endpoint} gave a non-S3 answer: {err}"
            ) from err
        except HTTPError as err:
            raise ObjectStoreUnavailable(
                f"S3 endpoint {self._settings.endpoint} is unreachable: {err}"
            ) from err


def _translate(err: S3Error, bucket: str, key: str | None) -> ObjectStoreError:
    code = err.code or ""
    detail = f"{code}: {err.message}"
    if code == "NoSuchKey":
        return ObjectNotFound(f"no object under key {key!r} in bucket {bucket!r}")
    if code == "NoSuchBucket":
        return BucketNotFound(f"bucket {bucket!r} does not exist; run ensure_bucket() ({detail})")
    if code in _AUTH_CODES:
        return ObjectStoreAuthError(f"S3 refused the credentials for bucket {bucket!r} ({detail})")
    if code in _TRANSIENT_CODES or err.response.status >= 500:
        return ObjectStoreUnavailable(f"S3 is unavailable for bucket {bucket!r} ({detail})")
    return ObjectStoreError(f"S3 request on bucket {bucket!r} failed ({detail})")


def _object_info(key: str, found: Object) -> ObjectInfo:
    headers = found.metadata or {}
    return ObjectInfo(
        key=key,
        size=found.size or 0,
        content_type=found.content_type or "application/octet-stream",
        etag=found.etag or "",
        last_modified=found.last_modified,
        metadata={
            name.lower().removeprefix(_USER_METADATA_PREFIX): value
            for name, value in headers.items()
            if name.lower().startswith(_USER_METADATA_PREFIX)
        },
    )


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
