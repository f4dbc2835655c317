"""Every message of the contract survives serialize -> parse with all of its fields set."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import struct_pb2
from google.protobuf.message import Message

from sightline.common.v1 import model_pb2
from sightline.device.v1 import (
    command_pb2,
    event_pb2,
    key_pb2,
    metrics_pb2,
    state_pb2,
    status_pb2,
    track_pb2,
)
from sightline.ingest.v1 import ingest_pb2

FRAME_TIME = datetime(2026, 11, 21, 20, 15, 30, 123456, tzinfo=UTC)
LATER = datetime(2026, 11, 21, 20, 16, 2, 500000, tzinfo=UTC)
DEVICE = "dev-0001"
CAMERA = "lobby"
DETECTION_ID = "019aa7c4-5e2b-7cc1-9d3f-2b8e4a1c6f00"
TRACK_ID = "019aa7c4-5d00-7a10-8b22-7f3e9c0d1a42"


def model() -> model_pb2.ModelRef:
    return model_pb2.ModelRef(name="nanodet-g", version="3.0.4-1")


def key(seq: int) -> key_pb2.MessageKey:
    return key_pb2.MessageKey(device_id=DEVICE, seq=seq)


def box() -> ingest_pb2.BoundingBox:
    return ingest_pb2.BoundingBox(x_min=0.125, y_min=0.25, x_max=0.5, y_max=0.875)


def edge_face() -> ingest_pb2.EdgeFace:
    return ingest_pb2.EdgeFace(
        box=ingest_pb2.BoundingBox(x_min=0.2, y_min=0.25, x_max=0.3, y_max=0.375),
        landmarks=[0.22, 0.3, 0.28, 0.3, 0.25, 0.32, 0.23, 0.35, 0.27, 0.35],
        score=0.91,
        image_box=ingest_pb2.BoundingBox(x_min=0.175, y_min=0.2, x_max=0.325, y_max=0.4),
        jpeg=b"\xff\xd8\xff\xe0 not a real face \xff\xd9",
    )


def camera_model() -> status_pb2.CameraModel:
    return status_pb2.CameraModel(camera_id=CAMERA, model=model(), sha256="cd" * 32)


def struct(**values: str | float) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def camera_metrics() -> metrics_pb2.CameraMetrics:
    return metrics_pb2.CameraMetrics(
        camera_id=CAMERA,
        connected=True,
        decode_fps=10.0,
        infer_fps=9.5,
        frames_dropped_total=3,
        detections_total=412,
        model=model(),
        model_sha256="cd" * 32,
        detector_latency_p50_ms=21.5,
        detector_latency_p95_ms=34.25,
        detections=38,
        target_fps=10.0,
        frames_gated_total=40,
    )


def lane_metrics() -> metrics_pb2.LaneMetrics:
    return metrics_pb2.LaneMetrics(
        kind="crop",
        rows=120,
        bytes=3_500_000,
        dropped_total=2,
        dead_letters_total=1,
        delivered_total=4_096,
        error="device token revoked",
    )


def event() -> event_pb2.Event:
    return event_pb2.Event(
        key=key(2),
        time=FRAME_TIME,
        name="camera.disconnected",
        severity=event_pb2.EVENT_SEVERITY_WARNING,
        camera_id=CAMERA,
        message="no frame for 10 s",
        attributes={"retry_in_s": "4"},
    )


def track_summary() -> track_pb2.TrackSummary:
    return track_pb2.TrackSummary(
        key=key(3),
        track_id=TRACK_ID,
        camera_id=CAMERA,
        label="person",
        first_seen=FRAME_TIME,
        last_seen=LATER,
        best_detection_id=DETECTION_ID,
        best_score=0.91,
        box_count=57,
        ended=True,
        path=[path_point(FRAME_TIME, 0.25, 0.5), path_point(LATER, 0.75, 0.625)],
    )


def path_point(time: datetime, x: float, y: float) -> track_pb2.PathPoint:
    return track_pb2.PathPoint(time=time, x=x, y=y)


def desired_camera_model() -> state_pb2.DesiredCameraModel:
    return state_pb2.DesiredCameraModel(
        camera_id=CAMERA,
        model=model(),
        sha256="ab" * 32,
        url="https://cloud.example/models/nanodet-g/2/abab.onnx?signature=x",
        url_expire_time=FRAME_TIME,
        size=15_000_000,
        manifest=b'name = "nanodet-g"\n',
        signature=b"\x01" * 64,
        key_id="0123456789abcdef",
    )


# One fully populated example per message type; test_every_message_has_an_example keeps this
# list complete.
EXAMPLES: list[Callable[[], Message]] = [
    model,
    box,
    lambda: ingest_pb2.FrameSize(width=768, height=576),
    lambda: ingest_pb2.UploadCropsRequest(
        detection_id=DETECTION_ID,
        device_id=DEVICE,
        camera_id=CAMERA,
        track_id=TRACK_ID,
        frame_time=FRAME_TIME,
        box=box(),
        label="person",
        score=0.87,
        frame_size=ingest_pb2.FrameSize(width=768, height=576),
        crop_box=ingest_pb2.BoundingBox(x_min=0.1, y_min=0.2, x_max=0.55, y_max=0.95),
        jpeg=b"\xff\xd8\xff\xe0 not a real image \xff\xd9",
        model=model(),
        context_jpeg=b"\xff\xd8\xff\xe0 not a real scene \xff\xd9",
        face=edge_face(),
    ),
    edge_face,
    lambda: ingest_pb2.UploadCropsResponse(
        detection_id=DETECTION_ID,
        status=ingest_pb2.ACK_STATUS_RETRY_LATER,
        message="object store unavailable",
    ),
    lambda: key(7),
    camera_model,
    lambda: status_pb2.DeviceStatus(
        key=key(1),
        state=status_pb2.DEVICE_STATE_ONLINE,
        session_seq=12,
        time=FRAME_TIME,
        agent_version="0.1.0",
        hardware_profile="x86-cpu",
        models=[camera_model()],
    ),
    event,
    track_summary,
    lambda: path_point(FRAME_TIME, 0.5, 0.5),
    lambda: ingest_pb2.UploadRecordsRequest(event=event()),
    lambda: ingest_pb2.UploadRecordsRequest(track=track_summary()),
    lambda: ingest_pb2.UploadRecordsResponse(
        seq=2, status=ingest_pb2.ACK_STATUS_REJECTED_INVALID, message="name: not dotted"
    ),
    camera_metrics,
    lambda: metrics_pb2.Metrics(
        key=key(4),
        time=FRAME_TIME,
        session_seq=12,
        cameras=[camera_metrics()],
        outbox_rows=120,
        outbox_bytes=3_500_000,
        outbox_dropped_total=2,
        cpu_percent=63.5,
        memory_used_bytes=512 * 2**20,
        memory_available_bytes=6 * 2**30,
        disk_free_bytes=40 * 2**30,
        lanes=[lane_metrics()],
        tracks_interrupted_total=6,
        interval_s=5.0,
        errors_total=2,
        last_error="camera lobby: source failed",
        temperature_celsius=61.5,
    ),
    lane_metrics,
    desired_camera_model,
    lambda: state_pb2.DesiredState(
        generation=5,
        time=FRAME_TIME,
        config_version="cfg-2026-11-21",
        cameras=[desired_camera_model()],
        agent_image="registry.example:5000/sightline-edge-jetson:0.2.0",
    ),
    lambda: state_pb2.ReportedState(
        key=key(5),
        time=LATER,
        generation=5,
        config_version="cfg-2026-11-21",
        cameras=[camera_model()],
        error="model signature invalid; kept 3.0.3-1",
        agent_image="registry.example:5000/sightline-edge-jetson:0.1.0",
    ),
    lambda: command_pb2.Command(
        name="snapshot",
        request_id="5b0d8f0e-2c1f-4f7e-9f55-0f3a8f1e2d3c",
        args=struct(camera_id=CAMERA, quality=85),
        issue_time=FRAME_TIME,
        expire_time=LATER,
    ),
    lambda: command_pb2.CommandResult(
        key=key(6),
        request_id="5b0d8f0e-2c1f-4f7e-9f55-0f3a8f1e2d3c",
        name="snapshot",
        status=command_pb2.COMMAND_STATUS_SUCCEEDED,
        time=LATER,
        message="ok",
        result=struct(detection_id=DETECTION_ID),
    ),
]


def unset_fields(message: Message, path: str = "") -> list[str]:
    """Names of the fields left at their default, looking inside Sightline sub-messages."""
    missing: list[str] = []
    for field in message.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None and message.WhichOneof(oneof.name) != field.name:
            continue  # only one member of a oneof can be set
        name = f"{path}{field.name}"
        value = getattr(message, field.name)
        if field.is_repeated:
            if not value:
                missing.append(name)
            elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
                for item in value:
                    missing += unset_fields(item, f"{name}[].")
        elif field.message_type is not None:
            if not message.HasField(field.name):
                missing.append(name)
            elif field.message_type.full_name.startswith("sightline."):
                missing += unset_fields(value, f"{name}.")
        elif value == field.default_value:
            missing.append(name)
    return missing


def test_every_message_has_an_example(contract_modules: dict[Path, ModuleType]) -> None:
    declared = {
        message.full_name
        for module in contract_modules.values()
        for message in module.DESCRIPTOR.message_types_by_name.values()
    }
    examples = {build().DESCRIPTOR.full_name for build in EXAMPLES}
    assert declared == examples


@pytest.mark.parametrize("build", EXAMPLES, ids=lambda build: build().DESCRIPTOR.name)
def test_message_round_trips_with_every_field_set(build: Callable[[], Message]) -> None:
    original = build()
    assert unset_fields(original) == []

    parsed = type(original).FromString(original.SerializeToString())

    assert parsed == original
    assert parsed.SerializeToString(deterministic=True) == original.SerializeToString(
        deterministic=True
    )


def test_timestamps_keep_microseconds_and_utc() -> None:
    request = ingest_pb2.UploadCropsRequest(frame_time=FRAME_TIME)

    parsed = ingest_pb2.UploadCropsRequest.FromString(request.SerializeToString())

    assert parsed.frame_time.ToDatetime(tzinfo=UTC) == FRAME_TIME
