"""Applying one MQTT payload from a device (`sightline.device.v1`) to the cloud's state.

`handle_device_message(topic, payload, received_at)` parses the payload named by the topic's
leaf, checks its wire contract (it decodes, its key matches the topic, required fields are set,
ids are well formed) and calls the service that records it, which checks the domain's rules:

- ``status``: `record_device_status` (birth and last will; stale sessions are ignored there),
- ``events``: `record_event` (stored once per device and seq),
- ``tracks``: `record_track_summary` (track created or its time span widened).

``metrics`` and ``reported`` are parsed and checked but not stored: the fleet app has no
place for them yet (its Device holds status only); checking them still surfaces a device that
sends garbage.

Every handler is idempotent, because QoS 1 and the edge outbox both redeliver. A payload that
breaks the wire contract raises `MalformedMessage`, one that breaks a domain rule
`InvalidInput`; an unknown device raises `NotFound`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from cloud.detections.services import record_track_summary
from cloud.errors import InvalidInput
from cloud.fleet.models import DeviceStatus
from cloud.fleet.services import record_device_status, record_event
from cloud.validators import require, validate_edge_name, validate_uuid
from sightline.device.v1 import event_pb2, key_pb2, metrics_pb2, state_pb2, status_pb2, track_pb2
from sightline.device.v1.topics import Upstream, UpstreamTopic

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)

_STATES = {
    status_pb2.DEVICE_STATE_ONLINE: DeviceStatus.ONLINE,
    status_pb2.DEVICE_STATE_OFFLINE: DeviceStatus.OFFLINE,
}


class MalformedMessage(InvalidInput):
    """The payload does not decode as the topic's message, or breaks its contract."""


def handle_device_message(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
    """Apply one message; return True if it changed state, False for a repeat or stale one.

    `received_at` is when the bridge got it (aware): a last will carries its session's start
    time, so the time a device went offline can only come from the receipt.
    """
    return _HANDLERS[topic.leaf](topic, payload, received_at)


def _parse(message_type: type[M], payload: bytes) -> M:
    try:
        return message_type.FromString(payload)
    except DecodeError as err:
        raise MalformedMessage(f"not a {message_type.__name__}: {err}") from err


def _check_key(key: key_pb2.MessageKey, topic: UpstreamTopic) -> None:
    if key.device_id != topic.device_id:
        raise MalformedMessage(
            f"key.device_id {key.device_id!r} differs from the topic's device {topic.device_id!r}"
        )
    if key.seq < 1:
        raise MalformedMessage("key.seq: must be at least 1")


def _time(message: Message, field: str) -> datetime:
    if not message.HasField(field):
        raise MalformedMessage(f"{field}: must be set")
    value: datetime = getattr(message, field).ToDatetime(tzinfo=UTC)
    return value


def _status(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
    status = _parse(status_pb2.DeviceStatus, payload)
    _check_key(status.key, topic)
    state = _STATES.get(status.state)
    if state is None:
        raise MalformedMessage("state: must be ONLINE or OFFLINE")
    return record_device_status(
        topic.device_id,
        status=state,
        seq=status.session_seq,
        ts=_time(status, "time") if state == DeviceStatus.ONLINE else received_at,
        agent_version=status.agent_version,
    )


def _event(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
    event = _parse(event_pb2.Event, payload)
    _check_key(event.key, topic)
    details = {
        "severity": event_pb2.EventSeverity.Name(event.severity),
        "camera_id": event.camera_id,
        "message": event.message,
        "attributes": dict(event.attributes),
    }
    return record_event(
        topic.device_id,
        seq=event.key.seq,
        kind=event.name,
        payload=details,
        ts=_time(event, "time"),
    )


def _track(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
    summary = _parse(track_pb2.TrackSummary, payload)
    _check_key(summary.key, topic)
    require(validate_edge_name, summary.camera_id, "camera_id", MalformedMessage)
    require(validate_uuid, summary.track_id, "track_id", MalformedMessage)
    return record_track_summary(
        topic.device_id,
        camera_id=summary.camera_id,
        track_id=summary.track_id,
        label=summary.label,
        first_seen=_time(summary, "first_seen"),
        last_seen=_time(summary, "last_seen"),
    )


def _checked_only(
    message_type: type[metrics_pb2.Metrics | state_pb2.ReportedState],
) -> Callable[[UpstreamTopic, bytes, datetime], bool]:
    def check(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
        message = _parse(message_type, payload)
        _check_key(message.key, topic)
        _time(message, "time")
        logger.debug("checked %s from %s; not stored", message_type.__name__, topic)
        return False

    return check


_HANDLERS: dict[Upstream, Callable[[UpstreamTopic, bytes, datetime], bool]] = {
    Upstream.STATUS: _status,
    Upstream.EVENTS: _event,
    Upstream.TRACKS: _track,
    Upstream.METRICS: _checked_only(metrics_pb2.Metrics),
    Upstream.REPORTED: _checked_only(state_pb2.ReportedState),
}
