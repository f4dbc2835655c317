"""What goes into a dataset: images and their boxes, chosen from the labels' marks.

A crop the user marked positive for a chosen label (or, when asked, one a learned classifier
scores at least a chosen confidence and nobody marked) is a box of that label's class. Its
image is the context frame the edge sent with it (the whole frame, downscaled): boxes are
stored in normalised frame coordinates, so they fit the context frame as they fit the track
page's overlay (`cloud.search.track_page`). A frame is one camera at one capture time, so
every labelled crop of that frame is boxed on the same image, whichever of them carried the
context frame. Crops of a frame without any context frame are exported as their own crop
with a box over all of it when asked, and listed as skipped otherwise.

Hard negatives (when asked) are the frames of crops marked negative for a chosen label that
hold no box at all: images a detector must learn to leave empty.

Only crops of the cameras given (the requesting user's, `cloud.access.scope`) are read.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from pydantic import BaseModel, ConfigDict, Field

from cloud.datasets.split import Split, split_by_track
from cloud.detections.models import Detection
from cloud.errors import InvalidInput
from cloud.labels.models import Label, Mark, Score, Value

_FRAME_LOOKUP_CHUNK: Final = 200
"""Frames looked up per query when searching other crops of a frame for its context frame."""


class DatasetFormat(StrEnum):
    """The layouts an export can take (`cloud.datasets.formats`)."""

    COCO = "coco"
    YOLO = "yolo"


class ExportOptions(BaseModel):
    """What a user asks of one export."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: tuple[str, ...] = Field(
        min_length=1, description="Names of the labels to export (any case); each is a class."
    )
    min_classifier_confidence: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Also box crops nobody marked that a learned classifier scores at least "
        "this confident; without it (the default) only marked crops are boxed.",
    )
    crops_without_context: bool = Field(
        default=False,
        description="Export a crop whose frame has no context frame as an image of its own "
        "with one box over all of it, instead of listing it as skipped.",
    )
    hard_negatives: bool = Field(
        default=False,
        description="Add the frames of crops marked negative that hold no box, as images "
        "without boxes.",
    )
    val_fraction: float = Field(
        default=0.2,
        ge=0.0,
        lt=1.0,
        description="Share of the tracks whose images go to validation; all the images of a "
        "track are on one side.",
    )


class BoxSource(StrEnum):
    """Why a crop is boxed."""

    MARK = "mark"
    CLASSIFIER = "classifier"


@dataclass(frozen=True)
class Box:
    """One labelled crop on an image, in normalised image coordinates (origin top-left)."""

    detection_id: str
    track_id: str
    category: str
    """The label's name: the class."""
    source: BoxSource
    x_min: float
    y_min: float
    x_max: float
    y_max: float


@dataclass(frozen=True)
class PlannedImage:
    """One image of the dataset: the object to read, its boxes and its side of the split."""

    name: str
    """File name in the archive (unique): the id of the crop whose JPEG it is, ``.jpg``."""
    key: str
    """Object-store key of the JPEG (a context frame, or a crop)."""
    boxes: tuple[Box, ...]
    """Empty for a hard negative."""
    tracks: frozenset[str]
    """Tracks shown: those of the boxes, or the negative crops'."""
    crops: frozenset[str]
    """The chosen crops it shows: those boxed, or those marked negative (a hard negative)."""
    split: Split


@dataclass(frozen=True)
class Skipped:
    """A crop that was chosen but is not in the dataset, and why."""

    detection_id: str
    reason: str


@dataclass(frozen=True)
class DatasetPlan:
    """Everything an archive needs but the image bytes."""

    categories: tuple[str, ...]
    """Label names, in class order (by name, ignoring case)."""
    images: tuple[PlannedImage, ...]
    """Training images first, then validation; within each by camera, capture time, name."""
    skipped: tuple[Skipped, ...]

    @property
    def box_count(self) -> int:
        """Boxes over every image."""
        return sum(len(image.boxes) for image in self.images)


NO_CONTEXT: Final = "no context frame (export crops without one to include it)"
"""Why a crop whose frame has no context frame is skipped."""


@dataclass(frozen=True)
class _Crop:
    """The columns of a chosen crop that a plan needs."""

    id: str
    track_id: str
    camera_id: int
    ts: datetime
    context_key: str
    object_key: str
    box: tuple[float, float, float, float]

    @property
    def frame(self) -> tuple[int, datetime]:
        return (self.camera_id, self.ts)


_CROP_FIELDS: Final = (
    "id",
    "track_id",
    "camera_id",
    "ts",
    "context_key",
    "object_key",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
)
_COLUMNS: Final = ("label_id", *(f"detection__{name}" for name in _CROP_FIELDS))
"""A mark's or score's label, then its crop's `_CROP_FIELDS`."""


def _crop(row: Sequence[Any]) -> _Crop:
    """A crop from the values of `_CROP_FIELDS`, in that order."""
    id_, track, camera, ts, context, crop, x_min, y_min, x_max, y_max = row
    return _Crop(
        id=str(id_),
        track_id=str(track),
        camera_id=int(camera),
        ts=ts,
        context_key=str(context),
        object_key=str(crop),
        box=(float(x_min), float(y_min), float(x_max), float(y_max)),
    )


def resolve_labels(names: Sequence[str]) -> list[Label]:
    """The labels named (any case), in class order; `InvalidInput` names any unknown one."""
    wanted = {name.strip().lower(): name for name in names}
    labels = list(Label.objects.annotate(key=Lower("name")).filter(key__in=list(wanted)))
    missing = sorted(set(wanted) - {label.name.lower() for label in labels})
    if missing:
        raise InvalidInput("no label named " + ", ".join(repr(wanted[key]) for key in missing))
    return sorted(labels, key=lambda label: (label.name.lower(), label.name))


def plan_dataset(options: ExportOptions, camera_ids: frozenset[int] | None) -> DatasetPlan:
    """The dataset `options` describe, from the crops of `camera_ids` (None: every camera).

    Raises `InvalidInput` for an unknown label.
    """
    labels = resolve_labels(options.labels)
    visible = Q() if camera_ids is None else Q(detection__camera_id__in=camera_ids)
    boxed, boxes = _boxed_crops(labels, visible, options.min_classifier_confidence)
    by_frame: dict[tuple[int, datetime], list[_Crop]] = defaultdict(list)
    for crop in boxed.values():
        by_frame[crop.frame].append(crop)
    if options.hard_negatives:
        # Frames of negatives that hold no box; a frame with a box is already in.
        with_boxes = set(by_frame)
        negative = Mark.objects.filter(label__in=labels, value=Value.NEGATIVE).filter(visible)
        for _, *row in negative.values_list(*_COLUMNS).iterator():
            crop = _crop(row)
            # A crop negative for two of the labels comes twice.
            if crop.frame not in with_boxes and crop not in by_frame[crop.frame]:
                by_frame[crop.frame].append(crop)
    contexts = _context_frames(list(by_frame.items()), camera_ids)

    drafts: list[tuple[tuple[int, datetime, str], PlannedImage]] = []
    skipped: dict[str, str] = {}
    for frame, crops in by_frame.items():
        frame_boxes = sorted(
            (
                Box(crop.id, crop.track_id, name, source, *crop.box)
                for crop in crops
                for name, source in boxes.get(crop.id, ())
            ),
            key=lambda box: (box.detection_id, box.category),
        )
        context = contexts.get(frame)
        if context is not None:
            image = PlannedImage(
                name=f"{context.id}.jpg",
                key=context.context_key,
                boxes=tuple(frame_boxes),
                tracks=frozenset(crop.track_id for crop in crops),
                crops=frozenset(crop.id for crop in crops),
                split=Split.TRAIN,
            )
            drafts.append(((*frame, context.id), image))
            continue
        for crop in crops:
            if not options.crops_without_context:
                skipped[crop.id] = NO_CONTEXT
                continue
            whole = tuple(
                dataclasses.replace(box, x_min=0.0, y_min=0.0, x_max=1.0, y_max=1.0)
                for box in frame_boxes
                if box.detection_id == crop.id
            )
            image = PlannedImage(
                name=f"{crop.id}-crop.jpg",
                key=crop.object_key,
                boxes=whole,
                tracks=frozenset({crop.track_id}),
                crops=frozenset({crop.id}),
                split=Split.TRAIN,
            )
            drafts.append(((*frame, crop.id), image))

    drafts.sort(key=lambda draft: draft[0])
    sides = split_by_track([image.tracks for _, image in drafts], options.val_fraction)
    images = [
        dataclasses.replace(image, split=side)
        for (_, image), side in zip(drafts, sides, strict=True)
    ]
    images.sort(key=lambda image: image.split != Split.TRAIN)  # stable: keeps frame order
    return DatasetPlan(
        categories=tuple(label.name for label in labels),
        images=tuple(images),
        skipped=tuple(Skipped(id_, reason) for id_, reason in sorted(skipped.items())),
    )


def _boxed_crops(
    labels: Sequence[Label], visible: Q, min_classifier_confidence: float | None
) -> tuple[dict[str, _Crop], dict[str, list[tuple[str, BoxSource]]]]:
    """The crops to box, by id, and each one's (label name, why) pairs: the labels' positive
    marks, and unmarked crops the classifier scores at least `min_classifier_confidence`."""
    names = {label.pk: label.name for label in labels}
    marked = Mark.objects.filter(label__in=labels, value=Value.POSITIVE).filter(visible)
    sources: list[tuple[QuerySet[Mark] | QuerySet[Score], BoxSource]] = [(marked, BoxSource.MARK)]
    if min_classifier_confidence is not None:
        # A user's mark, either way, overrides what the classifier thinks.
        any_mark = Mark.objects.filter(label=OuterRef("label"), detection=OuterRef("detection"))
        scored = (
            Score.objects.filter(
                label__in=labels,
                source=Score.Source.CLASSIFIER,
                confidence__gte=min_classifier_confidence,
            )
            .filter(visible)
            .exclude(Exists(any_mark))
        )
        sources.append((scored, BoxSource.CLASSIFIER))
    crops: dict[str, _Crop] = {}
    boxes: dict[str, list[tuple[str, BoxSource]]] = defaultdict(list)
    for rows, source in sources:
        for label_id, *row in rows.values_list(*_COLUMNS).iterator():
            crop = _crop(row)
            crops[crop.id] = crop
            boxes[crop.id].append((names[label_id], source))
    return crops, boxes


def _context_frames(
    frames: Sequence[tuple[tuple[int, datetime], list[_Crop]]],
    camera_ids: frozenset[int] | None,
) -> dict[tuple[int, datetime], _Crop]:
    """The crop whose context frame shows each frame: one of the frame's own crops when any
    carries one (the smallest id, for a stable choice), else another crop of that camera and
    capture time, labelled or not (the edge sends the frame with each emission's best crop
    only)."""
    found: dict[tuple[int, datetime], _Crop] = {}
    lacking: list[tuple[int, datetime]] = []
    for frame, crops in frames:
        with_context = sorted((crop for crop in crops if crop.context_key), key=lambda c: c.id)
        if with_context:
            found[frame] = with_context[0]
        else:
            lacking.append(frame)
    for start in range(0, len(lacking), _FRAME_LOOKUP_CHUNK):
        chunk = lacking[start : start + _FRAME_LOOKUP_CHUNK]
        where = functools.reduce(Q.__or__, (Q(camera_id=camera, ts=ts) for camera, ts in chunk))
        others = Detection.objects.filter(where).exclude(context_key="").order_by("id")
        if camera_ids is not None:
            others = others.filter(camera_id__in=camera_ids)
        for row in others.values_list(*_CROP_FIELDS):
            crop = _crop(row)
            found.setdefault(crop.frame, crop)
    return found
