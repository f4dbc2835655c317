"""Turning an `UploadCropsRequest` into the domain's `NewDetection`, checking the wire contract.

These checks cover what ingest.proto defines (canonical UUID ids, safe device and camera ids,
the fields that must be set, a valid frame time, a plausible frame size, normalised boxes, a
score in [0, 1], a whole JPEG), each once; `record_detection` then applies the domain's own
rules. Everything here runs before any I/O, so a bad item costs nothing but its REJECTED_INVALID
ack. The box stays normalised, as on the wire: the cloud stores it that way
(`cloud.detections.models`).

The JPEG is checked without decoding it: its header must declare no more pixels than the embed
worker decodes (`max_crop_pixels`, the embedder's own bound), and it must end with the EOI
marker. So a crop the worker would refuse unread (a few crafted bytes can declare gigapixels)
or decode half grey (one cut short) is refused at upload, where the device learns of it,
instead of being stored and never embedded.

The context frame (`context_jpeg`) is an extra for people: one that is not a whole JPEG or is
over its bounds (`MAX_CONTEXT_BYTES`, `MAX_CONTEXT_PIXELS`) is dropped and logged, and the crop
is stored without it. The ack is per item, so refusing the item (REJECTED_INVALID) would make
the edge drop the crop too, which is what search needs. The edge face (`face`, a person's face
the edge found on the full-resolution frame) is such an extra too: one that breaks its rules is
dropped and logged, and the crop is stored without it (the cloud then looks for a face itself).
"""

from __future__ import annotations

import math

from cloud.detections.services import EdgeFace, NewDetection
from cloud.embeddings.spec import DEFAULT_MAX_CROP_PIXELS
from cloud.errors import InvalidInput
from cloud.ingest.wire import optional_extra, require_set, timestamp
from cloud.lib.jpeg import JpegHeaderError, read_jpeg_size
from cloud.validators import require, validate_edge_name, validate_uuid
from sightline.ingest.v1 import ingest_pb2

# Every complete JPEG ends with the EOI marker (ITU-T T.81, B.2.1).
JPEG_EOI = b"\xff\xd9"
# Larger than any camera stream; rejects garbage frame sizes.
MAX_FRAME_SIDE = 16384
MAX_CONTEXT_BYTES = 1024**2
"""Largest context frame kept: a 640-pixel-wide frame, the edge's default, is about 50 kB."""
MAX_CONTEXT_PIXELS = 4096 * 4096
"""Most pixels a kept context frame may declare (the edge downscales to at most 4096 wide)."""
MAX_FACE_BYTES = 512 * 1024
"""Largest edge face kept: a face 400 pixels wide at JPEG quality 95 is about 60 kB."""
MAX_FACE_PIXELS = 2048 * 2048
"""Most pixels an edge face may declare: a face filling a 4K frame's height, with its margin."""
FACE_LANDMARKS = 10
"""Values of an edge face's landmarks: x, y of eyes, nose tip and mouth corners."""


def parse_upload(
    request: ingest_pb2.UploadCropsRequest, *, max_crop_pixels: int = DEFAULT_MAX_CROP_PIXELS
) -> NewDetection:
    """Validate one request; raise `InvalidInput` saying which field breaks the contract.

    `max_crop_pixels` is the most pixels (width x height) the crop's JPEG may declare.
    """
    # One spelling per id (canonical lowercase): the ids are idempotency keys, and an
    # upper-case retry of the same UUID must not become a second row or track.
    require(validate_uuid, request.detection_id, "detection_id")
    require(validate_edge_name, request.device_id, "device_id")
    require(validate_edge_name, request.camera_id, "camera_id")
    require(validate_uuid, request.track_id, "track_id")
    require_set(request, "frame_time", "box", "frame_size", "crop_box", "model")
    ts = timestamp(request, "frame_time")
    width, height = request.frame_size.width, request.frame_size.height
    if not (0 < width <= MAX_FRAME_SIDE and 0 < height <= MAX_FRAME_SIDE):
        raise InvalidInput(f"frame_size: {width}x{height} is not a plausible frame size")
    _require_normalised(request.box, "box")
    _require_normalised(request.crop_box, "crop_box")
    if not _contains(request.crop_box, request.box):
        raise InvalidInput("crop_box: must contain box")
    # Written as "not (a <= b)" so that NaN fails too.
    if not (0 <= request.score <= 1):
        raise InvalidInput("score: must lie in [0, 1]")
    _require_whole_jpeg(request.jpeg, max_crop_pixels, "jpeg")
    box = request.box
    return NewDetection(
        id=request.detection_id,
        device_id=request.device_id,
        camera_id=request.camera_id,
        track_id=request.track_id,
        ts=ts,
        x_min=box.x_min,
        y_min=box.y_min,
        x_max=box.x_max,
        y_max=box.y_max,
        frame_width=width,
        frame_height=height,
        label=request.label,
        score=request.score,
        model_name=request.model.name,
        model_version=request.model.version,
        jpeg=request.jpeg,
        context_jpeg=optional_extra(
            lambda: _context(request),
            b"",
            what="context frame",
            item=f"crop {request.detection_id}",
            context={"device_id": request.device_id, "camera_id": request.camera_id},
        ),
        face=optional_extra(
            lambda: _face(request),
            None,
            what="edge face",
            item=f"crop {request.detection_id}",
            context={"device_id": request.device_id, "camera_id": request.camera_id},
        ),
    )


def _face(request: ingest_pb2.UploadCropsRequest) -> EdgeFace | None:
    """The request's face in the coordinates the analyser uses (`EdgeFace`); None when it has
    none, `InvalidInput` when it breaks its rules."""
    if not request.HasField("face"):
        return None
    face = request.face
    require_set(face, "box", "image_box")
    _require_normalised(face.box, "face.box")
    _require_normalised(face.image_box, "face.image_box")
    if not _contains(face.image_box, face.box):
        raise InvalidInput("face.image_box: must contain face.box")
    if not _contains(request.crop_box, face.box):
        raise InvalidInput("face.box: must lie inside crop_box")
    if not (0 <= face.score <= 1):
        raise InvalidInput("face.score: must lie in [0, 1]")
    marks = list(face.landmarks)
    if len(marks) != FACE_LANDMARKS or not all(math.isfinite(v) and 0 <= v <= 1 for v in marks):
        raise InvalidInput(f"face.landmarks: must be {FACE_LANDMARKS} values in [0, 1]")
    if len(face.jpeg) > MAX_FACE_BYTES:
        raise InvalidInput(f"face.jpeg: {len(face.jpeg)} bytes, over {MAX_FACE_BYTES}")
    _require_whole_jpeg(face.jpeg, MAX_FACE_PIXELS, "face.jpeg")
    size = read_jpeg_size(face.jpeg)
    image, crop = face.image_box, request.crop_box
    if image.x_max <= image.x_min or image.y_max <= image.y_min:
        raise InvalidInput("face.image_box: must not be empty")

    def pixels(x: float, y: float) -> tuple[float, float]:
        """A normalised frame point in pixels of the face JPEG."""
        return (
            (x - image.x_min) / (image.x_max - image.x_min) * size.width,
            (y - image.y_min) / (image.y_max - image.y_min) * size.height,
        )

    def in_crop(x: float, y: float) -> tuple[float, float]:
        """A normalised frame point as fractions of the crop (crop_box contains the face)."""
        width, height = crop.x_max - crop.x_min, crop.y_max - crop.y_min
        return (
            (x - crop.x_min) / width if width > 0 else 0.0,
            (y - crop.y_min) / height if height > 0 else 0.0,
        )

    box = face.box
    points = [pixels(x, y) for x, y in zip(marks[0::2], marks[1::2], strict=True)]
    return EdgeFace(
        in_crop=(*in_crop(box.x_min, box.y_min), *in_crop(box.x_max, box.y_max)),
        box=(*pixels(box.x_min, box.y_min), *pixels(box.x_max, box.y_max)),
        landmarks=tuple(value for point in points for value in point),
        score=face.score,
        jpeg=face.jpeg,
    )


def _context(request: ingest_pb2.UploadCropsRequest) -> bytes:
    """The request's context frame; `InvalidInput` when it is over its bounds."""
    data = request.context_jpeg
    if data:
        if len(data) > MAX_CONTEXT_BYTES:
            raise InvalidInput(f"context_jpeg: {len(data)} bytes, over {MAX_CONTEXT_BYTES}")
        _require_whole_jpeg(data, MAX_CONTEXT_PIXELS, "context_jpeg")
    return data


def _require_whole_jpeg(data: bytes, max_pixels: int, name: str) -> None:
    try:
        read_jpeg_size(data, max_pixels=max_pixels)
    except JpegHeaderError as err:
        raise InvalidInput(f"{name}: {err}") from err
    if not data.endswith(JPEG_EOI):
        raise InvalidInput(
            f"{name}: does not end with the EOI marker (cut short, or bytes after it)"
        )


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
