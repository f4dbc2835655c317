"""Labelled crops of vtest.avi as ingest stores them, with real context frames, and the dataset
that should come out of them.

Two cameras of one device saw frames 0 and 3 of vtest.avi (`tests.cloud.ingest.footage`); an
object keeps its track from frame 0 to 3 on a camera. As on the edge, only some crops carry
the context frame (the whole frame, downscaled to 640 px wide):

- lobby, frame 0: woman*, man-on-road, man-on-grass, van. walker +: woman, man-on-road;
  walker -: man-on-grass; Van +: van.
- lobby, frame 3: man-on-grass*, woman, man-on-road, van. walker +: woman; the classifier
  scores walker 0.95 for man-on-grass (unmarked) and 0.5 for man-on-road.
- yard, frame 0: van. Van +: van (no crop of that frame has a context frame).
- yard, frame 3: man-on-road*, woman. walker -: man-on-road (a frame without a box: a hard
  negative).

(* carries the context frame.) The classifier also scores lobby 0's man-on-grass 0.97, which
its negative mark overrides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import cv2
from django.utils import timezone

from cloud.detections.models import Detection
from cloud.detections.services import record_detection
from cloud.ingest.crops import parse_upload
from cloud.labels.models import Label, Mark, Score, Value
from cloud.lib.objectstore import ObjectStore
from tests.cloud.faces.photos import jpeg
from tests.cloud.ingest.footage import (
    FRAME_HEIGHT,
    FRAME_WIDTH,
    OBJECTS,
    VtestObject,
    vtest_frame,
)
from tests.cloud.ingest.uploads import FRAME_TIME, crop_request
from tests.cloud.search.data import track_id

CONTEXT_SIZE: Final = (640, 480)
"""The edge's default context frame: 640 px wide, the frame's aspect."""
FPS: Final = 10
WITH_CONTEXT: Final = frozenset({"lobby/woman/0", "lobby/man-on-grass/3", "yard/man-on-road/3"})
YARD: Final = ("van/0", "man-on-road/3", "woman/3")

POSITIVES: Final = {
    "walker": ("lobby/woman/0", "lobby/man-on-road/0", "lobby/woman/3"),
    "Van": ("lobby/van/0", "yard/van/0"),
}
NEGATIVES: Final = {"walker": ("lobby/man-on-grass/0", "yard/man-on-road/3")}
CLASSIFIER: Final = {
    ("walker", "lobby/man-on-grass/3"): 0.95,
    ("walker", "lobby/man-on-road/3"): 0.5,
    ("walker", "lobby/man-on-grass/0"): 0.97,
}


def context_jpeg(frame: int) -> bytes:
    """Frame `frame` downscaled to `CONTEXT_SIZE`, JPEG-encoded as the edge sends it."""
    return jpeg(cv2.resize(vtest_frame(frame), CONTEXT_SIZE, interpolation=cv2.INTER_AREA))


def store_crop(objects: ObjectStore, camera: str, item: VtestObject, *, context: bool) -> Detection:
    """Record the crop of `item` as `camera` saw it (track: the camera and the object's name),
    with the frame's context frame or without one, and return its row."""
    request = crop_request(item, camera_id=camera, track_id=track_id(f"{camera}/{item.name}"))
    new = dataclasses.replace(
        parse_upload(request),
        ts=FRAME_TIME + timedelta(seconds=item.frame / FPS),
        context_jpeg=context_jpeg(item.frame) if context else b"",
    )
    assert record_detection(new, objects).created
    return Detection.objects.get(pk=new.id)


def store_footage(objects: ObjectStore) -> dict[str, Detection]:
    """Record every crop of the table (the device must exist), label them, and return the
    rows by name ("lobby/woman/0")."""
    rows: dict[str, Detection] = {}
    items = [("lobby", item) for item in OBJECTS]
    items += [("yard", item) for item in OBJECTS if f"{item.name}/{item.frame}" in YARD]
    for camera, item in items:
        name = f"{camera}/{item.name}/{item.frame}"
        rows[name] = store_crop(objects, camera, item, context=name in WITH_CONTEXT)
    now = timezone.now()
    labels = {name: Label.objects.create(name=name) for name in ("walker", "Van")}
    for marks, value in ((POSITIVES, Value.POSITIVE), (NEGATIVES, Value.NEGATIVE)):
        for label, names in marks.items():
            Mark.objects.bulk_create(
                Mark(label=labels[label], detection=rows[name], value=value, at=now)
                for name in names
            )
    Score.objects.bulk_create(
        Score(
            label=labels[label],
            detection=rows[name],
            track_id=rows[name].track_id,
            source=Score.Source.CLASSIFIER,
            confidence=confidence,
            version=1,
            updated_at=now,
        )
        for (label, name), confidence in CLASSIFIER.items()
    )
    return rows


@dataclass(frozen=True)
class ExpectedBox:
    """A box as a reader should find it: image file, class name, pixels (x, y, width, height)."""

    image: str
    category: str
    box: tuple[float, float, float, float]


def context_box(item_name: str, image: str, category: str) -> ExpectedBox:
    """The box of vtest object `item_name` ("woman/0") on a context frame, in its pixels."""
    name, frame = item_name.rsplit("/", 1)
    (item,) = [o for o in OBJECTS if o.name == name and o.frame == int(frame)]
    x1, y1, x2, y2 = item.box
    sx, sy = CONTEXT_SIZE[0] / FRAME_WIDTH, CONTEXT_SIZE[1] / FRAME_HEIGHT
    return ExpectedBox(image, category, (x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy))


def crop_box(item_name: str, image: str, category: str) -> ExpectedBox:
    """A box over the whole crop of vtest object `item_name`."""
    name, frame = item_name.rsplit("/", 1)
    (item,) = [o for o in OBJECTS if o.name == name and o.frame == int(frame)]
    x1, y1, x2, y2 = item.box
    return ExpectedBox(image, category, (0.0, 0.0, float(x2 - x1), float(y2 - y1)))


def expected_boxes(rows: dict[str, Detection], *, everything: bool) -> set[ExpectedBox]:
    """What was labelled, as boxes on images: marks only, or (`everything`) with the confident
    classifier score and the crop without a context frame too."""
    frame0 = f"{rows['lobby/woman/0'].id}.jpg"
    frame3 = f"{rows['lobby/man-on-grass/3'].id}.jpg"
    boxes = {
        context_box("woman/0", frame0, "walker"),
        context_box("man-on-road/0", frame0, "walker"),
        context_box("van/0", frame0, "Van"),
        context_box("woman/3", frame3, "walker"),
    }
    if everything:
        boxes |= {
            context_box("man-on-grass/3", frame3, "walker"),
            crop_box("van/0", f"{rows['yard/van/0'].id}-crop.jpg", "Van"),
        }
    return boxes
