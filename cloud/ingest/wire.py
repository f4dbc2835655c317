"""Checks of the wire contract that every kind of device message shares.

The per-message modules (`cloud.ingest.crops`, `cloud.ingest.records`,
`cloud.ingest.device_messages`) check what ingest.proto and the `sightline.device.v1` messages
define with these: required fields are set, timestamps are valid protobuf timestamps, a
message key names a sequence number. Each check raises `MalformedMessage`, an `InvalidInput`,
naming the field, so a malformed message is rejected before any I/O. Error messages and logs
quote what a device sent with `quoted`, which bounds its length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Final, TypeVar

from google.protobuf.message import Message

from cloud.errors import InvalidInput
from sightline.device.v1 import key_pb2

T = TypeVar("T")

logger = logging.getLogger(__name__)

_QUOTED_CHARACTERS: Final = 64
"""The longest id the contract allows (device, camera) is quoted whole."""


def quoted(value: str) -> str:
    """`value`, from a device, as error messages and logs show it: its repr, cut short.

    A device chooses the length of what it sends, up to the message size: quoted whole, a
    huge id would overflow the gRPC trailers that carry a call's status (the client's limit is
    8 KiB) and flood the logs.
    """
    if len(value) <= _QUOTED_CHARACTERS:
        return repr(value)
    return f"{value[:_QUOTED_CHARACTERS]!r}... ({len(value)} characters)"


class MalformedMessage(InvalidInput):
    """The message does not decode as its kind, or breaks its contract."""


def require_set(message: Message, *fields: str) -> None:
    """Raise `MalformedMessage` for the first of `fields` (message fields) that is unset."""
    for name in fields:
        if not message.HasField(name):
            raise MalformedMessage(f"{name}: must be set")


def timestamp(message: Message, field: str) -> datetime:
    """The aware UTC datetime of the Timestamp field `field`, which must be set and valid.

    A Timestamp's seconds and nanos are plain integers on the wire; values outside the
    protobuf range (years 1-9999) would raise ValueError on conversion, so they are malformed.
    """
    require_set(message, field)
    try:
        value: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    except ValueError as err:
        raise MalformedMessage(f"{field}: {err}") from err
    return value


def sequence_number(key: key_pb2.MessageKey) -> int:
    """The key's seq, which counts from 1 (0 is what an unset field reads as)."""
    if key.seq < 1:
        raise MalformedMessage("key.seq: must be at least 1")
    return key.seq


def optional_extra(
    read: Callable[[], T], empty: T, *, what: str, item: str, context: Mapping[str, str]
) -> T:
    """`read()`, or `empty` when it raises `InvalidInput`, which is logged with `context`.

    For the extras of an item that are only for people (a crop's context frame, a track's
    path): one that breaks its rules is dropped and the item kept without it, since the ack is
    per item and refusing it would lose the item too. `what` names the extra, `item` the item.
    """
    try:
        return read()
    except InvalidInput as err:
        logger.warning("%s: %s dropped, kept without it: %s", item, what, err, extra=context)
        return empty
