"""Checks that every backend applies to its arguments before doing any I/O.

The rules are the intersection of what S3, a POSIX directory and a URL path accept unchanged,
so a key that works with one backend works with all of them:

- a key is 1 to 1024 bytes of ``/``-separated segments (1024 is the S3 limit);
- a segment is 1 to 200 characters from ``A-Z a-z 0-9 . _ -`` and does not start with ``.``
  (so ``.``, ``..`` and hidden files cannot appear; 200 leaves room under the usual 255-byte
  file name limit for the local backend's suffixes);
- user metadata keys are lower-case ``a-z 0-9 -`` (HTTP header names that survive proxies,
  which drop headers with ``_``), values are non-empty printable ASCII without surrounding
  spaces (S3 sends metadata as headers: servers drop empty values and strip spaces), and keys
  plus values total at most 2 KiB (the S3 limit).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from cloud.lib.objectstore.errors import InvalidObjectRequest, ObjectTooLarge

MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
# SigV4 presigned URLs cannot live longer than 7 days; every backend shares that bound.
MIN_URL_LIFETIME = timedelta(seconds=1)
MAX_URL_LIFETIME = timedelta(days=7)

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")
_METADATA_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(;[\x20-\x7e]*)?")


def validate_segment(segment: str, what: str = "key segment") -> str:
    """Return `segment` if it is one valid key segment, else raise `InvalidObjectRequest`.

    `what` names the argument in the error message (``device_id``, ``camera_id``...).
    """
    if not _SEGMENT.fullmatch(segment):
        raise InvalidObjectRequest(
            f"{what} {segment!r} must be 1-200 characters of A-Z a-z 0-9 . _ - "
            "and must not start with '.'"
        )
    return segment


def validate_key(key: str) -> str:
    """Return `key` if it follows this module's key rules, else raise `InvalidObjectRequest`."""
    if not key:
        raise InvalidObjectRequest("object key must not be empty")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidObjectRequest(f"object key is longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        validate_segment(segment, f"segment of key {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Return `prefix` if some valid key could start with it, else raise `InvalidObjectRequest`.

    The empty prefix matches every key; a prefix may end with ``/`` or with a partial segment.
    """
    body = prefix.removesuffix("/")
    if body:
        validate_key(body)
    elif prefix:
        raise InvalidObjectRequest("prefix '/' matches no key: keys never start with '/'")
    return prefix


def validate_content_type(content_type: str) -> str:
    """Return `content_type` if it looks like a MIME type (``type/subtype[; params]``)."""
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise InvalidObjectRequest(f"content type {content_type!r} is not a MIME type")
    return content_type


def normalise_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Return `metadata` with lower-cased keys, or raise `InvalidObjectRequest`.

    Keys are case-insensitive (they travel as HTTP headers), so two keys that differ only in
    case are rejected instead of one silently winning.
    """
    normalised: dict[str, str] = {}
    for raw_key, value in metadata.items():
        key = raw_key.lower()
        if not _METADATA_KEY.fullmatch(key):
            raise InvalidObjectRequest(
                f"metadata key {raw_key!r} must be 1-128 characters of a-z 0-9 - "
                "(case-insensitive) and start with a letter or digit"
            )
        if key in normalised:
            raise InvalidObjectRequest(f"metadata key {raw_key!r} appears twice (case is ignored)")
        if not _PRINTABLE_ASCII.fullmatch(value) or value != value.strip():
            raise InvalidObjectRequest(
                f"metadata value for {raw_key!r} must be non-empty printable ASCII "
                "without leading or trailing spaces"
            )
        normalised[key] = value
    total = sum(len(key) + len(value) for key, value in normalised.items())
    if total > MAX_METADATA_BYTES:
        raise InvalidObjectRequest(
            f"metadata is {total} bytes; keys and values may total {MAX_METADATA_BYTES} bytes"
        )
    return normalised


def check_size(key: str, size: int, max_bytes: int) -> None:
    """Raise `ObjectTooLarge` when an object of `size` bytes exceeds `max_bytes`."""
    if size > max_bytes:
        raise ObjectTooLarge(
            f"object {key!r} is {size} bytes; this store accepts at most {max_bytes} bytes "
            "(setting max_object_bytes)"
        )


def check_url_lifetime(expires: timedelta) -> None:
    """Raise `InvalidObjectRequest` unless 1 second <= `expires` <= 7 days."""
    if not MIN_URL_LIFETIME <= expires <= MAX_URL_LIFETIME:
        raise InvalidObjectRequest(
            f"presigned URL lifetime {expires} must be between 1 second and 7 days"
        )
