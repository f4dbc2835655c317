"""Making, renaming and deleting labels, and what a label page lists (its marks, its history).

Names are unique whatever their case ("Delivery van" and "delivery van" are one label): text
search matches them by meaning, and two spellings of one name would split its marks. A name
is trimmed, its inner spaces collapsed, and must hold no control characters.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet

from cloud.access.roles import User, user_pk
from cloud.errors import InvalidInput
from cloud.labels.models import Label, Mark, MarkEvent, Value

MAX_NAME: Final = 64
"""Longest label name (the column's length)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_name(name: str) -> str:
    """`name` trimmed with its inner spaces collapsed; `InvalidInput` when it is empty, too
    long or holds control characters."""
    if _CONTROL.search(name):
        raise InvalidInput("A label name cannot hold control characters.")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInput("Give the label a name.")
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"A label name has at most {MAX_NAME} characters.")
    return cleaned


def check_thresholds(positive: float, negative: float) -> None:
    """`InvalidInput` unless both are cosines and the positive one is below 1 (a threshold of 1
    would suggest only exact copies: `cloud.labels.spreading`)."""
    if not -1.0 <= positive < 1.0:
        raise InvalidInput("The positive threshold is a cosine similarity from -1 to below 1.")
    if not -1.0 <= negative <= 1.0:
        raise InvalidInput("The negative threshold is a cosine similarity from -1 to 1.")


def create_label(name: str, user: User, *, description: str = "") -> Label:
    """A new label called `name` (cleaned); `InvalidInput` when the name is bad or taken."""
    label = Label(name=clean_name(name), description=description, created_by_id=user_pk(user))
    _save(label)
    return label


def update_label(
    label: Label,
    *,
    name: str | None = None,
    description: str | None = None,
    positive_threshold: float | None = None,
    negative_threshold: float | None = None,
) -> Label:
    """Change what is given of the label; `InvalidInput` for a bad or taken name or bad
    thresholds (nothing is changed then)."""
    changed = Label.objects.get(pk=label.pk)
    if name is not None:
        changed.name = clean_name(name)
    if description is not None:
        changed.description = description
    if positive_threshold is not None:
        changed.positive_threshold = positive_threshold
    if negative_threshold is not None:
        changed.negative_threshold = negative_threshold
    check_thresholds(changed.positive_threshold, changed.negative_threshold)
    _save(changed)
    return changed


def _save(label: Label) -> None:
    taken = Label.objects.filter(name__iexact=label.name).exclude(pk=label.pk)
    if taken.exists():
        raise InvalidInput(f"A label called {label.name!r} exists already.")
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError as err:  # a concurrent save took the name after the check
        raise InvalidInput(f"A label called {label.name!r} exists already.") from err


def counted(labels: QuerySet[Label], cameras: Collection[int] | None) -> QuerySet[Label]:
    """`labels` with ``positives`` and ``negatives``: their marks on crops of `cameras` (None:
    every camera)."""
    on_cameras = Q() if cameras is None else Q(marks__detection__camera_id__in=sorted(cameras))
    return labels.annotate(
        positives=Count("marks", filter=on_cameras & Q(marks__value=Value.POSITIVE)),
        negatives=Count("marks", filter=on_cameras & Q(marks__value=Value.NEGATIVE)),
    )


def marked(label: Label, value: Value, cameras: Collection[int] | None) -> QuerySet[Mark]:
    """The marks `value` of `label` on crops of `cameras` (None: every camera), newest first,
    with the crop and what its card shows joined."""
    marks = Mark.objects.filter(label=label, value=value)
    if cameras is not None:
        marks = marks.filter(detection__camera_id__in=sorted(cameras))
    return marks.select_related("detection__camera", "detection__track__camera__device").order_by(
        "-at", "-id"
    )


def marks_of(label: Label, detection_ids: Collection[str]) -> dict[str, str]:
    """The current mark (``positive``/``negative``) of each of these crops that has one."""
    rows = Mark.objects.filter(label=label, detection_id__in=sorted(detection_ids))
    return dict(rows.values_list("detection_id", "value"))


@dataclass(frozen=True)
class Batch:
    """One user action on a label's marks, as the history lists it."""

    id: uuid.UUID
    by: str
    """The user's name ("" when the user was deleted)."""
    at: datetime
    positive: int
    negative: int
    cleared: int
    undoes: uuid.UUID | None
    undone: bool
    whole: bool
    """Whether every crop it changed is one the viewing user may see (then they may undo it)."""

    @property
    def undoable(self) -> bool:
        """Whether the history offers to undo it (`undo` may still refuse: a crop marked
        again since)."""
        return self.whole and not self.undone


def history(label: Label, cameras: Collection[int] | None, *, limit: int = 50) -> list[Batch]:
    """The label's latest `limit` batches, newest first, counting the crops on `cameras`
    (None: every camera) only; batches with none of them are left out."""
    events = MarkEvent.objects.filter(label=label)
    if cameras is not None:
        events = events.filter(detection__camera_id__in=sorted(cameras))
    rows = list(
        events.values("batch", "undoes", "at", "by__username")
        .annotate(
            positive=Count("id", filter=Q(after=Value.POSITIVE)),
            negative=Count("id", filter=Q(after=Value.NEGATIVE)),
            cleared=Count("id", filter=Q(after="")),
            shown=Count("id"),
        )
        .order_by("-at", "-batch")[:limit]
    )
    ids = [row["batch"] for row in rows]
    undone = set(
        MarkEvent.objects.filter(label=label, undoes__in=ids).values_list("undoes", flat=True)
    )
    totals = dict(
        MarkEvent.objects.filter(batch__in=ids)
        .values("batch")
        .annotate(total=Count("id"))
        .values_list("batch", "total")
    )
    return [
        Batch(
            id=row["batch"],
            by=row["by__username"] or "",
            at=row["at"],
            positive=row["positive"],
            negative=row["negative"],
            cleared=row["cleared"],
            undoes=row["undoes"],
            undone=row["batch"] in undone,
            whole=totals.get(row["batch"]) == row["shown"],
        )
        for row in rows
    ]


def last_batch(label: Label, user: User) -> uuid.UUID | None:
    """The user's latest action on the label that is not an undo and was not undone: what
    "undo" (Z) takes back next, so that pressing it again steps further back."""
    undone = MarkEvent.objects.filter(label=label, undoes__isnull=False).values("undoes")
    latest = (
        MarkEvent.objects.filter(label=label, by_id=user_pk(user), undoes__isnull=True)
        .exclude(batch__in=undone)
        .order_by("-id")
        .values_list("batch", flat=True)
        .first()
    )
    return latest
