"""Edge records to the protobuf messages of the wire contract: the one place the edge builds them.

- `crop_request`: a `Crop` as the `UploadCropsRequest` the gRPC uplink streams;
- `track_message`: a `TrackSummary` as the `TrackSummary` record UploadRecords carries;
- `event_message`: a `CameraEvent` as the `Event` record UploadRecords carries;
- `status_template`: the part of the `DeviceStatus` birth and will that is fixed for a run.

Boxes become normalised frame coordinates here (`normalised_box`) and nowhere else. MessageKeys
are left unset: the spool stamps them when it queues a message (`edge.transport.spool`).

A crop's `crop_box` contains its `box` by construction, so it is not checked here: the crop
selector cuts `crop_box` by padding the box outwards and clipping it to the frame
(`edge.crops.image.pixel_rect`), and clipping and normalising keep that order
(tests/edge/test_wire.py proves it over many boxes). The cloud checks the wire contract again at
its boundary anyway.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from edge.geometry import FrameSize, PixelBox
from edge.records import CameraEvent, Crop, EventSeverity, FaceView, ModelRef, TrackSummary
from sightline.common.v1 import model_pb2
from sightline.device.v1 import event_pb2, status_pb2, track_pb2
from sightline.ingest.v1 import ingest_pb2

_SEVERITY = {
    EventSeverity.INFO: event_pb2.EVENT_SEVERITY_INFO,
    EventSeverity.WARNING: event_pb2.EVENT_SEVERITY_WARNING,
    EventSeverity.ERROR: event_pb2.EVENT_SEVERITY_ERROR,
}


def normalised_box(box: PixelBox, size: FrameSize) -> ingest_pb2.BoundingBox:
    """The box in normalised frame coordinates (proto `BoundingBox`), clipped to [0, 1]."""
    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")

    def clip(value: float) -> float:
        return min(max(value, 0.0), 1.0)

    x_min, x_max = sorted((clip(box.x1 / width), clip(box.x2 / width)))
    y_min, y_max = sorted((clip(box.y1 / height), clip(box.y2 / height)))
    return ingest_pb2.BoundingBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)


def model_message(model: ModelRef) -> model_pb2.ModelRef:
    """The wire form of a model reference."""
    return model_pb2.ModelRef(name=model.name, version=model.version)


def crop_request(crop: Crop, *, device_id: str) -> ingest_pb2.UploadCropsRequest:
    """The upload message for one crop, carrying the crop's own detection id.

    Raises ValueError when the crop breaks the proto's rules (naive time, score outside [0, 1],
    no JPEG, empty frame size).
    """
    if crop.frame_time.tzinfo is None:
        raise ValueError("frame_time must be timezone-aware (UTC on the wire)")
    if not 0.0 <= crop.score <= 1.0:
        raise ValueError(f"score must lie in [0, 1], got {crop.score}")
    if not crop.jpeg:
        raise ValueError("jpeg must not be empty")
    request = ingest_pb2.UploadCropsRequest(
        detection_id=crop.detection_id,
        device_id=device_id,
        camera_id=crop.camera_id,
        track_id=crop.track_id,
        box=normalised_box(crop.box, crop.frame_size),
        label=crop.label,
        score=crop.score,
        frame_size=ingest_pb2.FrameSize(width=crop.frame_size.width, height=crop.frame_size.height),
        crop_box=normalised_box(crop.crop_box, crop.frame_size),
        jpeg=crop.jpeg,
        model=model_message(crop.model),
        context_jpeg=crop.context_jpeg,
    )
    request.frame_time.FromDatetime(crop.frame_time.astimezone(dt.UTC))
    if crop.face is not None:
        request.face.CopyFrom(face_message(crop.face, crop.frame_size))
    return request


def face_message(face: FaceView, size: FrameSize) -> ingest_pb2.EdgeFace:
    """The wire form of a face: box, landmarks and image region normalised to the frame."""
    width, height = size
    landmarks = [
        min(max(value / (width if index % 2 == 0 else height), 0.0), 1.0)
        for index, value in enumerate(face.landmarks)
    ]
    return ingest_pb2.EdgeFace(
        box=normalised_box(face.box, size),
        landmarks=landmarks,
        score=face.score,
        image_box=normalised_box(face.image_rect, size),
        jpeg=face.jpeg,
    )


def track_message(summary: TrackSummary) -> track_pb2.TrackSummary:
    """The record of a summary (its MessageKey unset)."""
    message = track_pb2.TrackSummary(
        track_id=summary.track_id,
        camera_id=summary.camera_id,
        label=summary.label,
        best_detection_id=summary.best_detection_id,
        best_score=summary.best_score,
        box_count=summary.box_count,
        ended=summary.ended,
    )
    message.first_seen.FromDatetime(summary.first_seen)
    message.last_seen.FromDatetime(summary.last_seen)
    for point in summary.path:
        wire_point = message.path.add(x=point.x, y=point.y)
        wire_point.time.FromDatetime(point.time)
    return message


def event_message(event: CameraEvent) -> event_pb2.Event:
    """The record of a camera event (its MessageKey unset)."""
    message = event_pb2.Event(
        name=event.name,
        severity=_SEVERITY[event.severity],
        camera_id=event.camera_id,
        message=event.message,
        attributes=dict(event.attributes),
    )
    message.time.FromDatetime(event.time)
    return message


def status_template(
    *, agent_version: str, hardware_profile: str, camera_models: Sequence[tuple[str, ModelRef]]
) -> status_pb2.DeviceStatus:
    """What every birth and will of this run says about the device: agent version, hardware
    profile and the model of each camera. The MQTT link fills in key, state, session and time."""
    return status_pb2.DeviceStatus(
        agent_version=agent_version,
        hardware_profile=hardware_profile,
        models=[
            status_pb2.CameraModel(camera_id=camera_id, model=model_message(model))
            for camera_id, model in camera_models
        ],
    )
