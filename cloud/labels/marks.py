"""Marking crops: one user action is one batch of mark changes, recorded and undoable.

`apply_marks` sets (or clears) the marks of some crops for one label; `undo` applies a batch's
changes backwards as a new batch. Both run in one transaction with the label's row locked, so
the batches of one label follow each other: an undo sees every change committed before it and
none can slip in between its check and its writes. `Mark` is the current state; `MarkEvent`
rows are appended, never changed, one per crop whose mark actually changed (marking a positive
positive again records nothing). After the commit, `cloud.labels.signals.marks_changed` tells
whatever follows the marks (suggestions, the learned classifier) to refresh.

Access is the caller's: these functions mark whatever crops they are given. Views and the API
pass only crops the user may see, through `cloud.labels.scope`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Final

from django.db import transaction
from django.utils import timezone

from cloud.access.roles import User, user_pk
from cloud.detections.models import Detection
from cloud.errors import CloudError, InvalidInput, NotFound
from cloud.labels.models import Label, Mark, MarkEvent, Value
from cloud.labels.signals import marks_changed

MAX_BATCH: Final = 1000
"""Most crops one action may mark: a page of results is far fewer; a script sends several."""


class UndoRefused(CloudError):
    """A batch that cannot be undone: undone already, or a crop of it changed since."""


def apply_marks(label: Label, changes: Mapping[str, Value | None], user: User) -> uuid.UUID:
    """Set each crop's mark for `label` to its value (None clears it), as one batch by `user`.

    Returns the batch's id, also when nothing changed (it then has no events and nothing to
    undo). Raises `InvalidInput` for more than `MAX_BATCH` crops or a value that is not a
    `Value`, `NotFound` when the label or a crop does not exist.
    """
    if len(changes) > MAX_BATCH:
        raise InvalidInput(f"mark at most {MAX_BATCH} crops at a time, not {len(changes)}")
    for value in changes.values():
        if value is not None and value not in Value.values:
            raise InvalidInput(f"{value!r} is not a mark: use positive, negative or none")
    batch = uuid.uuid4()
    with transaction.atomic():
        _lock_label(label.pk)
        _record(label.pk, changes, user_pk(user), batch, undoes=None)
    return batch


def undo(batch: uuid.UUID, user: User) -> uuid.UUID:
    """Put every crop of `batch` back to its mark before it, as a new batch by `user` that
    names `batch` in `undoes`; returns the new batch's id.

    Raises `NotFound` when no batch has that id (or it changed nothing), `UndoRefused` when it
    was undone already or a crop of it was marked again since (undoing it would silently throw
    that later mark away).
    """
    with transaction.atomic():
        first = MarkEvent.objects.filter(batch=batch).order_by("id").first()
        if first is None:
            raise NotFound(f"no batch {batch} of mark changes")
        _lock_label(first.label_id)
        if MarkEvent.objects.filter(undoes=batch).exists():
            raise UndoRefused("This action was undone already.")
        events = list(MarkEvent.objects.filter(batch=batch).order_by("id"))
        changed = [
            event.detection_id
            for event in events
            if MarkEvent.objects.filter(
                label_id=event.label_id, detection_id=event.detection_id, id__gt=event.id
            ).exists()
        ]
        if changed:
            raise UndoRefused(
                f"{len(changed)} of its crops were marked again since (first {changed[0]}): "
                "undo those later actions first, or mark the crops again."
            )
        before = {
            event.detection_id: Value(event.before) if event.before else None for event in events
        }
        new_batch = uuid.uuid4()
        _record(first.label_id, before, user_pk(user), new_batch, undoes=batch)
    return new_batch


def _lock_label(label_id: int) -> None:
    """Lock the label's row for the transaction (NotFound when it was deleted)."""
    if not Label.objects.select_for_update().filter(pk=label_id).exists():
        raise NotFound(f"no label {label_id}")


def _record(
    label_id: int,
    changes: Mapping[str, Value | None],
    user_id: int,
    batch: uuid.UUID,
    *,
    undoes: uuid.UUID | None,
) -> None:
    """Write `changes` as `batch` inside the caller's transaction, which holds the label's
    lock; queue `marks_changed` for its commit."""
    wanted = sorted(changes)
    found = set(Detection.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise NotFound(f"no detection {missing[0]}")
    marks = Mark.objects.select_for_update().filter(label_id=label_id, detection_id__in=wanted)
    current = {mark.detection_id: mark for mark in marks}
    now = timezone.now()
    events = []
    for detection_id in wanted:
        after = changes[detection_id]
        mark = current.get(detection_id)
        before = None if mark is None else Value(mark.value)
        if before == after:
            continue
        if after is None:
            assert mark is not None
            mark.delete()
        elif mark is None:
            Mark.objects.create(
                label_id=label_id, detection_id=detection_id, value=after, by_id=user_id, at=now
            )
        else:
            mark.value, mark.by_id, mark.at = after, user_id, now
            mark.save(update_fields=["value", "by", "at"])
        events.append(
            MarkEvent(
                label_id=label_id,
                detection_id=detection_id,
                batch=batch,
                undoes=undoes,
                before=before or "",
                after=after or "",
                by_id=user_id,
                at=now,
            )
        )
    if events:
        MarkEvent.objects.bulk_create(events)
        transaction.on_commit(lambda: marks_changed.send(sender=Mark, label_id=label_id))
