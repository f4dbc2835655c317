"""Real JPEG crops cut from OpenCV's vtest.avi, as an edge device would upload them."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from tests.footage.clips import VTEST, source

FRAME_WIDTH, FRAME_HEIGHT = 768, 576


@dataclass(frozen=True)
class VtestObject:
    """An object in one frame of vtest.avi, boxed by eye in frame pixels."""

    name: str
    label: str
    frame: int
    box: tuple[int, int, int, int]
    """x1, y1, x2, y2 in pixels of the 768x576 frame."""


# Three people and the parked van in frames 0 and 3 (the people walk ~20 px in between).
OBJECTS = (
    VtestObject("man-on-grass", "person", 0, (248, 216, 288, 310)),
    VtestObject("man-on-road", "person", 0, (498, 155, 532, 235)),
    VtestObject("woman", "person", 0, (636, 238, 688, 322)),
    VtestObject("van", "car", 0, (650, 42, 725, 98)),
    VtestObject("man-on-grass", "person", 3, (272, 216, 310, 302)),
    VtestObject("man-on-road", "person", 3, (496, 160, 526, 236)),
    VtestObject("woman", "person", 3, (614, 238, 652, 326)),
    VtestObject("van", "car", 3, (650, 42, 725, 98)),
)


@functools.cache
def vtest_frame(index: int) -> np.ndarray:
    """Frame `index` of vtest.avi (BGR, 768x576)."""
    capture = cv2.VideoCapture(str(source(VTEST)))
    try:
        for _ in range(index + 1):
            ok, frame = capture.read()
            assert ok, "vtest.avi ended early"
    finally:
        capture.release()
    frame.flags.writeable = False
    return frame


def crop_jpeg(item: VtestObject) -> bytes:
    """The object's crop, JPEG-encoded at quality 90 as the edge sends it."""
    x1, y1, x2, y2 = item.box
    ok, encoded = cv2.imencode(
        ".jpg", vtest_frame(item.frame)[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, 90]
    )
    assert ok
    return encoded.tobytes()
