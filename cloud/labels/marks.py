"""STAND-IN, ONLY ON BRANCH h10-spread: the lead replaces this module with h10-marking's at merge.

The smallest `apply_marks` with the agreed signature (COMMON10.md, "Mark service seam"), so
that the suggestions page's accept/reject and its tests run before marking is merged: it
updates `Mark` rows, appends one `MarkEvent` per change under one batch id, and sends
`marks_changed` after the commit. No `undo` here: nothing on this branch calls it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from cloud.labels.models import Label, Mark, MarkEvent, Value
from cloud.labels.signals import marks_changed


def apply_marks(label: Label, changes: Mapping[str, Value | None], user: User) -> uuid.UUID:
    """Set (or, with None, clear) the label's mark of each detection id; one batch."""
    batch = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        current = dict(
            Mark.objects.filter(label=label, detection_id__in=changes).values_list(
                "detection_id", "value"
            )
        )
        for detection_id, value in changes.items():
            before = current.get(detection_id, "")
            after = "" if value is None else str(value)
            if before == after:
                continue
            if value is None:
                Mark.objects.filter(label=label, detection_id=detection_id).delete()
            else:
                Mark.objects.update_or_create(
                    label=label,
                    detection_id=detection_id,
                    defaults={"value": value, "by": user, "at": now},
                )
            MarkEvent.objects.create(
                label=label,
                detection_id=detection_id,
                batch=batch,
                before=before,
                after=after,
                by=user,
                at=now,
            )
        transaction.on_commit(lambda: marks_changed.send(sender=Label, label_id=label.pk))
    return batch
