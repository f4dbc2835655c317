from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from uuid6 import uuid7

from edge.crops.image import cut, encode_jpeg, pixel_rect
from edge.geometry import Box, FrameSize
from edge.records import Crop, ModelRef
from tests.footage.clips import VTEST, source

# The man standing on the grass in the first frame of vtest.avi (768x576).
PERSON = Box(248.0, 216.0, 288.0, 310.0)
VTEST_SIZE = FrameSize(768, 576)


@pytest.fixture(scope="session")
def person_jpeg() -> bytes:
    """A real crop: the padded person box of vtest.avi frame 0, JPEG-encoded."""
    capture = cv2.VideoCapture(str(source(VTEST)))
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok, "vtest.avi did not decode"
    image = np.asarray(frame, dtype=np.uint8)
    assert image.shape == (VTEST_SIZE.height, VTEST_SIZE.width, 3)
    return encode_jpeg(cut(image, pixel_rect(PERSON, *VTEST_SIZE, 0.1)), 90)


@pytest.fixture
def person_crop(person_jpeg: bytes) -> Callable[[], Crop]:
    """Makes a crop record of the real JPEG, with a new detection id (UUIDv7) each call."""

    def make() -> Crop:
        return Crop(
            detection_id=str(uuid7()),
            track_id="0190c0de-0000-7000-8000-000000000001",
            camera_id="cam-1",
            frame_time=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            box=PERSON,
            crop_box=pixel_rect(PERSON, *VTEST_SIZE, 0.1),
            frame_size=VTEST_SIZE,
            label="person",
            score=0.87,
            jpeg=person_jpeg,
            model=ModelRef("nanodet-g", "1"),
        )

    return make


@pytest.fixture(scope="session")
def vtest_frames() -> list[np.ndarray]:
    """The first 10 frames of vtest.avi (real CCTV pedestrians, 768x576 BGR)."""
    capture = cv2.VideoCapture(str(source(VTEST)))
    frames: list[np.ndarray] = []
    try:
        while len(frames) < 10:
            ok, frame = capture.read()
            assert ok, "vtest.avi ended early"
            frames.append(frame)
    finally:
        capture.release()
    return frames
