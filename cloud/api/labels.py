"""User labels: list and make them, change and delete one, mark crops, undo an action, and a
label's marks and history, with the label pages' rules (`cloud.labels.views`).

Every caller sees every label, and of its marks and history those on their cameras. Making,
changing and deleting labels and marking need the labeler role (403); a crop or action outside
the caller's cameras is "not found" (404), as one that does not exist (`cloud.labels.scope`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from cloud import backends
from cloud.access.scope import visible_camera_ids
from cloud.api.cards import DetectionOut, detection_out
from cloud.api.pages import PageQuery, page_of
from cloud.labels import marks
from cloud.labels.models import Label, Value
from cloud.labels.scope import require_labeler, visible_batch, visible_crops
from cloud.labels.services import (
    MAX_NAME,
    Batch,
    counted,
    create_label,
    history,
    marked,
    update_label,
)
from cloud.search.results import detection_cards

router = Router(tags=["labels"])


class LabelOut(Schema):
    """A label, with its marks on the caller's cameras."""

    id: int
    name: str
    description: str
    created_at: datetime
    created_by: str | None
    positive_threshold: float = Field(
        description="Cosine similarity to a positive from which a crop is suggested."
    )
    negative_threshold: float = Field(
        description="Cosine similarity to a negative from which a crop is never suggested."
    )
    positives: int = Field(description="Crops marked positive, on the caller's cameras.")
    negatives: int = Field(description="Crops marked negative, on the caller's cameras.")


class NewLabel(Schema):
    """A new label: its name is unique whatever its case."""

    name: str = Field(min_length=1, max_length=MAX_NAME)
    description: str = ""


class LabelChange(Schema):
    """What to change of a label; what is left out stays."""

    name: str | None = Field(None, min_length=1, max_length=MAX_NAME)
    description: str | None = None
    positive_threshold: float | None = Field(None, ge=-1.0, lt=1.0)
    negative_threshold: float | None = Field(None, ge=-1.0, le=1.0)


class MarksIn(Schema):
    """One action: each crop's new mark (null clears it)."""

    marks: dict[str, Literal["positive", "negative"] | None] = Field(
        description="Detection id -> positive, negative or null (no mark), at most "
        f"{marks.MAX_BATCH}. A crop already so is left as it is.",
        min_length=1,
    )


class BatchOut(Schema):
    """The action recorded (its id undoes it) and how many crops it changed."""

    batch: uuid.UUID
    changed: int


class UndoIn(Schema):
    """The action to undo."""

    batch: uuid.UUID


class HistoryItem(Schema):
    """One action on a label's marks, counting the crops on the caller's cameras."""

    id: uuid.UUID = Field(description="The action's batch (what undo takes).")
    by: str = Field(description='The user\'s name; "" when the user was deleted.')
    at: datetime
    positive: int
    negative: int
    cleared: int
    undoes: uuid.UUID | None = Field(description="The action this one undid, if an undo.")
    undone: bool
    undoable: bool = Field(
        description="Not undone, and every crop it changed is on the caller's cameras."
    )


class MarkedQuery(PageQuery):
    """Which marks to list."""

    value: Literal["positive", "negative"] = "positive"


class MarkedPage(Schema):
    """A page of a label's marked crops, newest mark first."""

    items: list[DetectionOut]
    page: int
    has_next: bool


def _out(label: Label) -> LabelOut:
    """A label read through `counted`."""
    return LabelOut(
        id=label.pk,
        name=label.name,
        description=label.description,
        created_at=label.created_at,
        created_by=None if label.created_by is None else label.created_by.get_username(),
        positive_threshold=label.positive_threshold,
        negative_threshold=label.negative_threshold,
        positives=label.positives,  # type: ignore[attr-defined]
        negatives=label.negatives,  # type: ignore[attr-defined]
    )


def _counted(request: HttpRequest, label_id: int) -> Label:
    """The label with its marks counted on the caller's cameras; 404 when there is none."""
    labels = counted(Label.objects.select_related("created_by"), visible_camera_ids(request.user))
    return get_object_or_404(labels, pk=label_id)


@router.get("", response=list[LabelOut])
def list_labels(request: HttpRequest) -> list[LabelOut]:
    """Every label, by name."""
    labels = counted(Label.objects.select_related("created_by"), visible_camera_ids(request.user))
    return [_out(label) for label in labels]


@router.post("", response={201: LabelOut})
def create(request: HttpRequest, body: NewLabel) -> Status[LabelOut]:
    """Make a label (labelers and above); 400 when the name is taken or unusable."""
    require_labeler(request.user)
    label = create_label(body.name, request.user, description=body.description)
    return Status(201, _out(_counted(request, label.pk)))


@router.get("/{label_id}", response=LabelOut)
def get_label(request: HttpRequest, label_id: int) -> LabelOut:
    """One label."""
    return _out(_counted(request, label_id))


@router.patch("/{label_id}", response=LabelOut)
def change(request: HttpRequest, label_id: int, body: LabelChange) -> LabelOut:
    """Rename a label, or change its description or thresholds (labelers and above)."""
    require_labeler(request.user)
    label = get_object_or_404(Label, pk=label_id)
    update_label(label, **body.model_dump(exclude_none=True))
    return _out(_counted(request, label_id))


@router.delete("/{label_id}", response={204: None})
def delete(request: HttpRequest, label_id: int) -> Status[None]:
    """Delete a label with its marks and history (labelers and above)."""
    require_labeler(request.user)
    get_object_or_404(Label, pk=label_id).delete()
    return Status(204, None)


@router.post("/{label_id}/marks", response=BatchOut)
def mark(request: HttpRequest, label_id: int, body: MarksIn) -> BatchOut:
    """Mark crops positive or negative, or clear their marks, as one action (labelers and
    above; 404 for a crop the caller may not see). Undo it with its `batch`."""
    require_labeler(request.user)
    label = get_object_or_404(Label, pk=label_id)
    visible_crops(request.user, body.marks)
    changes = {pk: None if value is None else Value(value) for pk, value in body.marks.items()}
    batch = marks.apply_marks(label, changes, request.user)
    return BatchOut(batch=batch, changed=label.events.filter(batch=batch).count())


@router.post("/{label_id}/undo", response=BatchOut)
def undo(request: HttpRequest, label_id: int, body: UndoIn) -> BatchOut:
    """Undo an action: each of its crops gets back its mark from before it, as a new action.
    409 when it was undone already, or a crop of it was marked again since."""
    require_labeler(request.user)
    label = get_object_or_404(Label, pk=label_id)
    visible_batch(request.user, body.batch, label_id=label.pk)
    try:
        batch = marks.undo(body.batch, request.user)
    except marks.UndoRefused as err:
        raise HttpError(409, str(err)) from err
    return BatchOut(batch=batch, changed=label.events.filter(batch=batch).count())


@router.get("/{label_id}/history", response=list[HistoryItem])
def label_history(request: HttpRequest, label_id: int) -> list[Batch]:
    """The label's latest 50 actions on crops of the caller's cameras, newest first."""
    label = get_object_or_404(Label, pk=label_id)
    return history(label, visible_camera_ids(request.user))


@router.get("/{label_id}/marks", response=MarkedPage)
def marked_crops(request: HttpRequest, label_id: int, query: Query[MarkedQuery]) -> MarkedPage:
    """The crops marked positive (or negative) on the caller's cameras, newest mark first."""
    label = get_object_or_404(Label, pk=label_id)
    rows, has_next = page_of(
        marked(label, Value(query.value), visible_camera_ids(request.user)), query
    )
    cards = detection_cards([row.detection for row in rows], backends.object_store())
    return MarkedPage(
        items=[detection_out(request, card) for card in cards], page=query.page, has_next=has_next
    )
