"""Turning an `UploadCropsRequest` into the domain's `CropUpload`, checking the wire contract.

These checks cover what the proto defines (a canonical UUID id, normalised boxes, a JPEG, the
fields that must be set); `record_detection` then applies the domain's own rules. Everything
here runs before any I/O, so a bad item costs nothing but its REJECTED_INVALID ack.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC

from cloud.detections.services import NewDetection
from cloud.errors import InvalidInput
from cloud.lib.objectstore import crop_key
from cloud.validators import require, validate_edge_name, validate_track_key
from sightline.ingest.v1 import ingest_pb2

# Every baseline or progressive JPEG starts with SOI (FF D8) followed by another marker (FF).
JPEG_MAGIC = b"\xff\xd8\xff"
# Larger than any camera stream; rejects garbage before it becomes pixel coordinates.
MAX_FRAME_SIDE = 16384


@dataclass(frozen=True)
class CropUpload:
    """A validated crop: the detection row to record and the JPEG to store under `key`."""

    detection: NewDetection
    jpeg: bytes

    @property
    def key(self) -> str:
        """Object store key of the JPEG (`crop_key`), also stored in the row."""
        return self.detection.object_key


def parse_upload(request: ingest_pb2.UploadCropsRequest) -> CropUpload:
    """Validate one request; raise `InvalidInput` saying which field breaks the contract."""
    _require_uuid(request.detection_id)
    require(validate_edge_name, request.device_id, "device_id")
    require(validate_edge_name, request.camera_id, "camera_id")
    require(validate_track_key, request.track_id, "track_id")
    for name in ("frame_time", "box", "frame_size", "crop_box", "model"):
        if not request.HasField(name):
            raise InvalidInput(f"{name}: must be set")
    width, height = request.frame_size.width, request.frame_size.height
    if not (0 < width <= MAX_FRAME_SIDE and 0 < height <= MAX_FRAME_SIDE):
        raise InvalidInput(f"frame_size: {width}x{height} is not a plausible frame size")
    _require_normalised(request.box, "box")
    _require_normalised(request.crop_box, "crop_box")
    if not _contains(request.crop_box, request.box):
        raise InvalidInput("crop_box: must contain box")
    if not request.jpeg.startswith(JPEG_MAGIC):
        raise InvalidInput("jpeg: not JPEG data (no SOI marker)")
    ts = request.frame_time.ToDatetime(tzinfo=UTC)
    box = request.box
    detection = NewDetection(
        id=request.detection_id,
        device_id=request.device_id,
        camera_id=request.camera_id,
        track_key=request.track_id,
        ts=ts,
        x1=box.x_min * width,
        y1=box.y_min * height,
        x2=box.x_max * width,
        y2=box.y_max * height,
        frame_width=width,
        frame_height=height,
        label=request.label,
        score=request.score,
        object_key=crop_key(request.device_id, request.camera_id, ts, request.detection_id),
        model_name=request.model.name,
        model_version=request.model.version,
    )
    return CropUpload(detection=detection, jpeg=request.jpeg)


def _require_uuid(value: str) -> None:
    # One spelling per id (canonical lowercase), because the id is the idempotency key: an
    # upper-case retry of the same UUID must not become a second row.
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        canonical = None
    if canonical != value:
        raise InvalidInput("detection_id: must be a UUID in canonical lowercase 8-4-4-4-12 form")


def _require_normalised(box: ingest_pb2.BoundingBox, name: str) -> None:
    values = (box.x_min, box.y_min, box.x_max, box.y_max)
    # Written so that NaN fails: every comparison with NaN is false.
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
        raise InvalidInput(f"{name}: coordinates must lie in [0, 1]")
    if not (box.x_min <= box.x_max and box.y_min <= box.y_max):
        raise InvalidInput(f"{name}: needs x_min <= x_max and y_min <= y_max")


def _contains(outer: ingest_pb2.BoundingBox, inner: ingest_pb2.BoundingBox) -> bool:
    return (
        outer.x_min <= inner.x_min
        and outer.y_min <= inner.y_min
        and outer.x_max >= inner.x_max
        and outer.y_max >= inner.y_max
    )
