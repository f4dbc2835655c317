"""edge.wire: records become the contract's messages, with normalised boxes and their own ids."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np
import pytest

from edge import wire
from edge.crops.image import pixel_rect
from edge.geometry import Box, FrameSize, PixelRect
from edge.records import Crop, ModelRef, PathPoint, TrackSummary
from sightline.device.v1 import status_pb2
from sightline.ingest.v1 import ingest_pb2

MakeCrop = Callable[[], Crop]


def contains(outer: ingest_pb2.BoundingBox, inner: ingest_pb2.BoundingBox) -> bool:
    return (
        outer.x_min <= inner.x_min
        and outer.y_min <= inner.y_min
        and outer.x_max >= inner.x_max
        and outer.y_max >= inner.y_max
    )


def coordinate(rng: random.Random, extent: int) -> float:
    """From 20% before the frame to 20% past it, often just off an integer (where floor and ceil
    matter), in float32 as detectors produce them."""
    value = rng.uniform(-0.2, 1.2) * extent
    return float(np.float32(rng.choice([value, round(value) + 1e-3, round(value) - 1e-3])))


def test_a_crop_request_carries_the_crops_uuid7_and_normalised_boxes(
    person_crop: MakeCrop,
) -> None:
    crop = person_crop()
    request = wire.crop_request(crop, device_id="dev-1")
    assert request.detection_id == crop.detection_id
    assert uuid.UUID(request.detection_id).version == 7
    assert request.detection_id == str(uuid.UUID(request.detection_id))  # canonical lowercase
    assert (request.device_id, request.camera_id, request.track_id) == (
        "dev-1",
        "cam-1",
        crop.track_id,
    )
    # PERSON = (248, 216)-(288, 310) in a 768x576 frame.
    assert request.box.x_min == pytest.approx(248 / 768)
    assert request.box.y_min == pytest.approx(216 / 576)
    assert request.box.x_max == pytest.approx(288 / 768)
    assert request.box.y_max == pytest.approx(310 / 576)
    assert request.crop_box.x_min <= request.box.x_min
    assert request.crop_box.y_max >= request.box.y_max
    assert (request.frame_size.width, request.frame_size.height) == (768, 576)
    assert request.frame_time.ToDatetime(dt.UTC) == dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert (request.label, request.score) == ("person", pytest.approx(0.87))
    assert (request.model.name, request.model.version) == ("nanodet-g", "1")
    decoded = cv2.imdecode(np.frombuffer(request.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape[2] == 3


def test_an_id_made_earlier_is_kept_and_the_time_sent_in_utc(person_crop: MakeCrop) -> None:
    crop_id = "0190c0de-1111-7000-8000-000000000002"
    crop = replace(
        person_crop(),
        detection_id=crop_id,
        frame_time=dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        box=Box(0, 0, 10, 10),
        crop_box=PixelRect(0, 0, 10, 10),
        frame_size=FrameSize(100, 100),
    )
    request = wire.crop_request(crop, device_id="d")
    assert request.detection_id == crop_id
    # Local time converted to UTC on the wire.
    assert request.frame_time.ToDatetime(dt.UTC).hour == 22


def test_boxes_outside_the_frame_are_clipped() -> None:
    box = wire.normalised_box(Box(-20.0, 50.0, 120.0, 250.0), FrameSize(100, 200))
    assert (box.x_min, box.y_min, box.x_max, box.y_max) == (0.0, 0.25, 1.0, 1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"frame_time": dt.datetime(2025, 1, 1)}, "timezone-aware"),
        ({"score": 1.5}, r"score must lie in \[0, 1\]"),
        ({"jpeg": b""}, "jpeg must not be empty"),
        ({"frame_size": FrameSize(0, 576)}, "frame size must be positive"),
    ],
)
def test_data_that_breaks_the_proto_rules_is_refused(
    person_crop: MakeCrop, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        wire.crop_request(replace(person_crop(), **change), device_id="d")  # type: ignore[arg-type]


def test_a_crop_box_cut_by_the_edge_always_contains_its_box(person_crop: MakeCrop) -> None:
    """Why the edge does not check containment: `pixel_rect` pads outwards and clips, and
    normalising (division by the frame size, clipping to [0, 1], float32 on the wire) is monotonic,
    so the order survives for any box with x1 <= x2 and y1 <= y2, inside the frame or not."""
    rng = random.Random(6)
    crop = person_crop()
    cases: list[tuple[Box, FrameSize, float]] = [
        (Box(0.0, 0.0, 768.0, 576.0), FrameSize(768, 576), 0.1),  # the whole frame
        (Box(767.5, 575.5, 768.0, 576.0), FrameSize(768, 576), 0.0),  # a corner pixel
        (Box(-50.0, -50.0, -10.0, -10.0), FrameSize(768, 576), 0.2),  # wholly outside
        (Box(900.0, 100.0, 950.0, 200.0), FrameSize(768, 576), 0.1),
        (Box(10.0, 10.0, 10.0, 10.0), FrameSize(768, 576), 0.5),  # empty
    ]
    for _ in range(5000):
        size = FrameSize(rng.randint(1, 4096), rng.randint(1, 4096))
        x1, y1 = coordinate(rng, size.width), coordinate(rng, size.height)
        x2 = x1 + rng.uniform(0, 0.6) * size.width
        y2 = y1 + rng.uniform(0, 0.6) * size.height
        cases.append((Box(x1, y1, x2, y2), size, rng.choice([0.0, rng.uniform(0.0, 1.0)])))
    for box, size, padding in cases:
        cut = replace(crop, box=box, crop_box=pixel_rect(box, *size, padding), frame_size=size)
        request = wire.crop_request(cut, device_id="d")
        assert contains(request.crop_box, request.box), (box, size, padding)


def test_the_status_template_names_the_agent_and_each_cameras_model() -> None:
    status = wire.status_template(
        agent_version="1.2.3",
        hardware_profile="x86-cpu",
        camera_models=[("lobby", ModelRef("nanodet-g", "1")), ("gate", ModelRef("nanodet-g", "2"))],
    )
    assert (status.agent_version, status.hardware_profile) == ("1.2.3", "x86-cpu")
    assert [(m.camera_id, m.model.name, m.model.version) for m in status.models] == [
        ("lobby", "nanodet-g", "1"),
        ("gate", "nanodet-g", "2"),
    ]
    assert status.state == status_pb2.DEVICE_STATE_UNSPECIFIED  # the link sets it
    assert not status.HasField("key")


def test_the_context_frame_and_the_path_travel_as_they_are(person_crop: MakeCrop) -> None:
    crop = replace(person_crop(), context_jpeg=b"\xff\xd8context\xff\xd9")
    assert wire.crop_request(crop, device_id="d").context_jpeg == crop.context_jpeg
    assert wire.crop_request(person_crop(), device_id="d").context_jpeg == b""
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    summary = TrackSummary(
        track_id=crop.track_id,
        camera_id="cam-1",
        label="person",
        first_seen=at,
        last_seen=at + dt.timedelta(seconds=1),
        best_detection_id=crop.detection_id,
        best_score=0.9,
        box_count=2,
        ended=False,
        path=(PathPoint(at, 0.25, 0.5), PathPoint(at + dt.timedelta(seconds=1), 0.75, 1.0)),
    )
    message = wire.track_message(summary)
    assert [(p.time.ToDatetime(dt.UTC), p.x, p.y) for p in message.path] == [
        (p.time, p.x, p.y) for p in summary.path
    ]
