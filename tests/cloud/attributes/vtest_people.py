"""Real crops of vtest.avi whose colours were checked by eye, cut as the edge cuts them.

Each object was boxed by hand on its frame and looked at enlarged (4x): what a person sees is
in `seen`. The crops carry the edge's default context margin (`edge.crops.selector`: padding
0.1 of the box on each side, clipped to the frame), so the analyser has to find the box in them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from cloud.detections.services import NewDetection
from edge.crops.image import cut, pixel_rect
from edge.geometry import Box
from tests.footage.clips import VTEST, source

FRAME_WIDTH, FRAME_HEIGHT = 768, 576
EDGE_PADDING = 0.1
_IDS = uuid.UUID("5b1f0c8e-2a4d-4e6f-9a1b-7c3d5e7f9a0b")
_T0 = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Seen:
    """An object in one frame, boxed by hand (x1, y1, x2, y2 frame pixels), and its colours as
    they look to a person."""

    name: str
    label: str
    frame: int
    box: tuple[int, int, int, int]
    seen: str


RED_TOP_WOMAN = Seen(
    "red-top-woman", "person", 450, (558, 242, 594, 336), "red jacket, dark blue jeans"
)
RED_NAVY_MAN = Seen(
    "red-navy-man",
    "person",
    570,
    (190, 344, 234, 482),
    "jacket red above, navy below; navy trousers",
)
JEANS_MAN = Seen("jeans-man", "person", 0, (498, 155, 532, 235), "black jacket, blue jeans")
GRASS_MAN = Seen("grass-man", "person", 0, (248, 216, 288, 310), "all black, on green grass")
DARK_WOMAN = Seen("dark-woman", "person", 0, (636, 238, 688, 322), "black coat and trousers")
VAN = Seen("van", "car", 0, (650, 42, 725, 98), "white van")
TEAL_CAR = Seen("teal-car", "car", 0, (735, 50, 768, 95), "light teal car, cut by the frame edge")

ALL = (RED_TOP_WOMAN, RED_NAVY_MAN, JEANS_MAN, GRASS_MAN, DARK_WOMAN, VAN, TEAL_CAR)


@functools.cache
def frame(index: int) -> npt.NDArray[np.uint8]:
    """Frame `index` of vtest.avi (BGR, 768x576)."""
    capture = cv2.VideoCapture(str(source(VTEST)))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = capture.read()
    finally:
        capture.release()
    assert ok, "vtest.avi ended early"
    image.flags.writeable = False
    return np.asarray(image, dtype=np.uint8)


def crop(item: Seen, padding: float = EDGE_PADDING) -> npt.NDArray[np.uint8]:
    """The object's crop as the edge cuts it, with `padding` around the box."""
    rect = pixel_rect(Box(*map(float, item.box)), FRAME_WIDTH, FRAME_HEIGHT, padding)
    return cut(frame(item.frame), rect)


def normalised_box(item: Seen) -> tuple[float, float, float, float]:
    """The box as `Detection` stores it."""
    x1, y1, x2, y2 = item.box
    return (x1 / FRAME_WIDTH, y1 / FRAME_HEIGHT, x2 / FRAME_WIDTH, y2 / FRAME_HEIGHT)


def detection(
    item: Seen, make_detection: Callable[..., NewDetection], **changes: object
) -> NewDetection:
    """The upload of `item`'s crop (JPEG quality 90, as the edge sends it), one track each."""
    ok, jpeg = cv2.imencode(".jpg", crop(item), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    x_min, y_min, x_max, y_max = normalised_box(item)
    fields: dict[str, object] = {
        "id": str(uuid.uuid5(_IDS, item.name)),
        "track_id": str(uuid.uuid5(_IDS, f"track/{item.name}")),
        "ts": _T0 + timedelta(seconds=item.frame / 10),
        "x_min": x_min,
        "y_min": y_min,
        "x_max": x_max,
        "y_max": y_max,
        "frame_width": FRAME_WIDTH,
        "frame_height": FRAME_HEIGHT,
        "label": item.label,
        "jpeg": jpeg.tobytes(),
    }
    fields.update(changes)
    return make_detection(**fields)
