"""`parse_upload`: the wire contract of an `UploadCropsRequest`, checked before any I/O."""

from __future__ import annotations

from datetime import UTC

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from cloud.errors import InvalidInput
from cloud.ingest.crops import MAX_CONTEXT_BYTES, parse_upload
from sightline.common.v1 import model_pb2
from sightline.ingest.v1 import ingest_pb2
from tests.cloud.ingest.footage import FRAME_HEIGHT, FRAME_WIDTH, OBJECTS, crop_jpeg
from tests.cloud.ingest.uploads import FRAME_TIME, crop_request
from tests.cloud.lib.jpeg_samples import declaring, encode


def test_it_keeps_ids_box_and_crop_as_the_edge_sent_them() -> None:
    request = crop_request()
    detection = parse_upload(request)
    assert (detection.id, detection.device_id, detection.camera_id, detection.track_id) == (
        request.detection_id,
        "gate-01",
        "lobby",
        request.track_id,
    )
    assert detection.ts == FRAME_TIME
    assert detection.ts.tzinfo is UTC
    # The box stays normalised (float32 on the wire, hence approx); no pixel conversion.
    x1, y1, x2, y2 = OBJECTS[0].box
    assert (detection.x_min, detection.y_min, detection.x_max, detection.y_max) == pytest.approx(
        (x1 / FRAME_WIDTH, y1 / FRAME_HEIGHT, x2 / FRAME_WIDTH, y2 / FRAME_HEIGHT)
    )
    assert (detection.frame_width, detection.frame_height) == (FRAME_WIDTH, FRAME_HEIGHT)
    assert (detection.label, detection.score) == ("person", pytest.approx(0.82))
    assert (detection.model_name, detection.model_version) == ("nanodet-g", "1")
    assert detection.jpeg == request.jpeg


def box(x_min: float, y_min: float, x_max: float, y_max: float) -> ingest_pb2.BoundingBox:
    return ingest_pb2.BoundingBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"detection_id": "01935F1E-7C4A-7D2E-9B1A-3C5D7E9F1A2B"}, "detection_id"),
        ({"detection_id": "crop-17"}, "detection_id"),
        ({"detection_id": "01JD8X3V9N6Q2R4T5W7Y8Z0A1B"}, "detection_id"),
        ({"device_id": ""}, "device_id"),
        ({"camera_id": "../etc"}, "camera_id"),
        ({"camera_id": "lobby/2"}, "camera_id"),
        ({"track_id": "lobby//17"}, "track_id"),
        ({"track_id": "lobby/3f2a9c/17"}, "track_id"),
        ({"track_id": "01935F1E-6B00-7C3D-8E4F-5A6B7C8D9E0F"}, "track_id"),
        ({"frame_size": ingest_pb2.FrameSize(width=0, height=576)}, "frame_size"),
        ({"frame_size": ingest_pb2.FrameSize(width=768, height=100_000)}, "frame_size"),
        ({"box": box(0.5, 0.1, 0.4, 0.5)}, "box"),
        ({"box": box(0.2, 0.1, 0.3, 1.05)}, "box"),
        ({"box": box(0.2, 0.1, float("nan"), 0.5)}, "box"),
        ({"crop_box": box(0.5, 0.5, 0.6, 0.6)}, "crop_box"),
        ({"frame_time": Timestamp(seconds=2**40)}, "frame_time"),
        ({"frame_time": Timestamp(seconds=-(2**40))}, "frame_time"),
        ({"frame_time": Timestamp(seconds=1, nanos=-1)}, "frame_time"),
        ({"score": 1.5}, "score"),
        ({"score": float("nan")}, "score"),
        ({"jpeg": b"\x89PNG\r\n\x1a\n"}, "jpeg"),
        ({"jpeg": declaring(60_000, 60_000)}, "jpeg"),
        ({"jpeg": crop_jpeg(OBJECTS[0])[:-2]}, "jpeg"),
    ],
)
def test_it_rejects_a_request_that_breaks_the_contract(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput, match=f"^{field}: "):
        parse_upload(crop_request(**changes))


@pytest.mark.parametrize("field", ["frame_time", "box", "frame_size", "crop_box", "model"])
def test_it_rejects_a_request_without_a_required_field(field: str) -> None:
    request = crop_request()
    request.ClearField(field)  # type: ignore[arg-type]  # the stubs list the names as literals
    with pytest.raises(InvalidInput, match=f"^{field}: must be set"):
        parse_upload(request)


def test_texts_are_left_to_the_domain_rules() -> None:
    # Whether a text fits its column is checked once, by `record_detection`.
    request = crop_request(label="", model=model_pb2.ModelRef(name="nanodet-g"))
    detection = parse_upload(request)
    assert (detection.label, detection.model_version) == ("", "")


def test_a_crop_within_the_pixel_bound_passes() -> None:
    request = crop_request(jpeg=encode(64, 48))
    assert parse_upload(request, max_crop_pixels=64 * 48).jpeg == request.jpeg
    with pytest.raises(InvalidInput, match=r"^jpeg: declares 65 x 48 pixels, more than the 3072"):
        parse_upload(crop_request(jpeg=encode(65, 48)), max_crop_pixels=64 * 48)


def test_it_keeps_a_whole_context_frame() -> None:
    context = encode(640, 480)
    assert parse_upload(crop_request(context_jpeg=context)).context_jpeg == context
    assert parse_upload(crop_request()).context_jpeg == b""


@pytest.mark.parametrize(
    ("context", "why"),
    [
        (b"\x89PNG\r\n\x1a\n", "context_jpeg: "),
        (declaring(5000, 5000), "more than the"),
        (encode(640, 480)[:-2], "EOI marker"),
        (b"\xff\xd8" + bytes(MAX_CONTEXT_BYTES) + b"\xff\xd9", "bytes, over"),
    ],
)
def test_an_unusable_context_frame_is_dropped_and_logged_and_the_crop_kept(
    context: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    request = crop_request(context_jpeg=context)
    detection = parse_upload(request)
    assert detection.context_jpeg == b""
    assert detection.jpeg == request.jpeg
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    assert request.detection_id in record.getMessage()
    assert why in record.getMessage()
