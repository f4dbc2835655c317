"""Applying one MQTT payload from a device (`sightline.device.v1`) to the cloud's state.

`handle_device_message(topic, payload, received_at)` parses the payload named by the topic's
leaf, checks its wire contract (it decodes, its key matches the topic, required fields are set,
timestamps are valid) and calls the service that records it, which checks the domain's rules:

- ``status``: `record_device_status` (birth and last will; stale sessions are ignored there),
- ``reported``: `cloud.deploy.services.record_reported_state` (the models a device really runs,
  the desired generation it processed last and why it did not apply it, if it did not).
- ``metrics``: `cloud.monitoring.services.record_heartbeat` (the device's latest outbox and
  loss counters, and a sample of its health history). `handle_heartbeats` applies many
  heartbeats at once, which is how the bridge stores them under load.

A device coming online also gets its desired state republished with fresh download URLs when
the retained one's have expired (`refresh_expired_urls`).

MQTT carries presence and state only (every leaf of `sightline.device.v1.topics.Upstream`).
Events and track summaries must be stored, so they travel over gRPC with an ack per record
(`cloud.ingest.records`): an MQTT PUBACK only says the broker took a message
(docs/architecture.md, "Transport").

Every handler is idempotent, because QoS 1 and the edge outbox both redeliver. A payload that
breaks the wire contract raises `MalformedMessage`, one that breaks a domain rule
`InvalidInput`; an unknown device raises `NotFound`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from cloud.deploy.models import AGENT_IMAGE_LENGTH
from cloud.deploy.services import ReportedCamera, record_reported_state, refresh_expired_urls
from cloud.errors import CloudError
from cloud.fleet.models import DeviceStatus
from cloud.fleet.services import CameraFigures, Heartbeat, LaneCounts, record_device_status
from cloud.ingest.wire import MalformedMessage, quoted, sequence_number, timestamp
from cloud.monitoring.services import ArrivedHeartbeat, record_heartbeat, record_heartbeats
from cloud.validators import require, validate_edge_name
from sightline.device.v1 import key_pb2, metrics_pb2, state_pb2, status_pb2
from sightline.device.v1.topics import Upstream, UpstreamTopic

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)

_STATES = {
    status_pb2.DEVICE_STATE_ONLINE: DeviceStatus.ONLINE,
    status_pb2.DEVICE_STATE_OFFLINE: DeviceStatus.OFFLINE,
}


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
            f"key.device_id {quoted(key.device_id)} differs from the topic's device "
            f"{topic.device_id!r}"
        )
    sequence_number(key)


def _status(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
    status = _parse(status_pb2.DeviceStatus, payload)
    _check_key(status.key, topic)
    state = _STATES.get(status.state)
    if state is None:
        raise MalformedMessage("state: must be ONLINE or OFFLINE")
    applied = record_device_status(
        topic.device_id,
        status=state,
        seq=status.session_seq,
        ts=timestamp(status, "time") if state == DeviceStatus.ONLINE else received_at,
        agent_version=status.agent_version,
    )
    if applied and state == DeviceStatus.ONLINE:
        refresh_expired_urls(topic.device_id)
    return applied


def _metrics(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
    arrived = heartbeat_of(topic, payload, received_at)
    return record_heartbeat(arrived.device_id, arrived.heartbeat, received_at=received_at)


def handle_heartbeats(
    messages: Sequence[tuple[UpstreamTopic, bytes, datetime]],
) -> list[bool | CloudError]:
    """Apply many ``metrics`` messages in one transaction; per message True when it was
    stored, False for a repeat, or the error that refuses it alone (`MalformedMessage`,
    `InvalidInput`, `NotFound`). A database failure raises, and nothing is stored."""
    outcomes: list[bool | CloudError | None] = [None] * len(messages)
    arrived: dict[int, ArrivedHeartbeat] = {}
    for index, (topic, payload, received_at) in enumerate(messages):
        try:
            arrived[index] = heartbeat_of(topic, payload, received_at)
        except MalformedMessage as err:
            outcomes[index] = err
    for index, outcome in zip(arrived, record_heartbeats(list(arrived.values())), strict=True):
        outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def heartbeat_of(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> ArrivedHeartbeat:
    """The wire-checked heartbeat of a ``metrics`` message; `MalformedMessage` if it is not one."""
    metrics = _parse(metrics_pb2.Metrics, payload)
    _check_key(metrics.key, topic)
    for lane in metrics.lanes:
        require(validate_edge_name, lane.kind, "lanes.kind", MalformedMessage)
    heartbeat = Heartbeat(
        seq=metrics.key.seq,
        session_seq=metrics.session_seq,
        sampled_at=timestamp(metrics, "time"),
        outbox_rows=metrics.outbox_rows,
        outbox_bytes=metrics.outbox_bytes,
        outbox_dropped_total=metrics.outbox_dropped_total,
        tracks_interrupted_total=metrics.tracks_interrupted_total,
        disk_free_bytes=metrics.disk_free_bytes,
        lanes=[
            LaneCounts(
                kind=lane.kind,
                rows=lane.rows,
                bytes=lane.bytes,
                dropped_total=lane.dropped_total,
                dead_letters_total=lane.dead_letters_total,
                delivered_total=lane.delivered_total,
                error=lane.error,
            )
            for lane in metrics.lanes
        ],
        interval_s=metrics.interval_s,
        errors_total=metrics.errors_total,
        last_error=metrics.last_error,
        temperature_celsius=_optional(metrics, "temperature_celsius"),
        cameras=[_camera(camera) for camera in metrics.cameras],
    )
    return ArrivedHeartbeat(topic.device_id, heartbeat, received_at)


def _optional(message: Message, field: str) -> float | None:
    """An `optional float` field's value, or None when the sender left it unset."""
    return float(getattr(message, field)) if message.HasField(field) else None


def _camera(camera: metrics_pb2.CameraMetrics) -> CameraFigures:
    return CameraFigures(
        camera_id=camera.camera_id,
        connected=camera.connected,
        decode_fps=camera.decode_fps,
        infer_fps=camera.infer_fps,
        target_fps=camera.target_fps,
        latency_p50_ms=_optional(camera, "detector_latency_p50_ms"),
        latency_p95_ms=_optional(camera, "detector_latency_p95_ms"),
        detections=camera.detections,
        frames_gated_total=camera.frames_gated_total,
        frames_dropped_total=camera.frames_dropped_total,
    )


def _reported(topic: UpstreamTopic, payload: bytes, received_at: datetime) -> bool:
    reported = _parse(state_pb2.ReportedState, payload)
    _check_key(reported.key, topic)
    cameras = []
    for camera in reported.cameras:
        require(validate_edge_name, camera.camera_id, "cameras.camera_id", MalformedMessage)
        cameras.append(
            ReportedCamera(camera.camera_id, camera.model.name[:100], camera.model.version[:64])
        )
    return record_reported_state(
        topic.device_id,
        seq=reported.key.seq,
        generation=reported.generation,
        config_version=reported.config_version[:64],
        cameras=cameras,
        error=reported.error[:2000],
        reported_at=timestamp(reported, "time"),
        received_at=received_at,
        agent_image=reported.agent_image[:AGENT_IMAGE_LENGTH],
    )


_HANDLERS: dict[Upstream, Callable[[UpstreamTopic, bytes, datetime], bool]] = {
    Upstream.STATUS: _status,
    Upstream.METRICS: _metrics,
    Upstream.REPORTED: _reported,
}
