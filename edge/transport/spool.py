"""Queuing wire messages in the outbox under the keys that make every re-send idempotent.

- `enqueue`: an upstream MQTT message, stamped with its MessageKey (device, next persisted seq)
  and spooled for its topic under the key `<device>:<seq>`;
- `enqueue_crop`: an `UploadCropsRequest`, spooled under its detection id.

Each key is made once, here, so every re-publish or re-upload of the row is byte-identical and
the cloud drops repeats (docs/architecture.md, "Identity and idempotency").
"""

from __future__ import annotations

from typing import Protocol

from edge.transport.outbox import Outbox
from sightline.device.v1 import key_pb2
from sightline.device.v1.topics import DeviceTopics
from sightline.ingest.v1 import ingest_pb2


class KeyedMessage(Protocol):
    """An upstream payload: every one carries a MessageKey (sightline/device/v1/key.proto)."""

    @property
    def key(self) -> key_pb2.MessageKey:
        """The idempotency key, filled in by `enqueue`."""

    def SerializeToString(self, *, deterministic: bool = ...) -> bytes:
        """The binary protobuf encoding."""


def enqueue(outbox: Outbox, topics: DeviceTopics, topic: str, message: KeyedMessage) -> int:
    """Stamp `message.key` with (device, next seq) and spool it for `topic`; returns the row id.

    `topic` comes from `topics` (`topics.upstream(Upstream.EVENTS)`). The message is modified in
    place.
    """
    if not topic.startswith(topics.base + "/"):
        raise ValueError(f"{topic!r} is not a topic of device {topics.device!r}")
    seq = outbox.next_seq(topics.device)
    message.key.device_id = topics.device
    message.key.seq = seq
    return outbox.put("mqtt", f"{topics.device}:{seq}", message.SerializeToString(), topic)


def enqueue_crop(outbox: Outbox, request: ingest_pb2.UploadCropsRequest) -> int:
    """Spool a crop for upload (keyed by its detection id) and return the row id."""
    return outbox.put("crop", request.detection_id, request.SerializeToString())
