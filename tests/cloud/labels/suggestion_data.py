"""Suggestions test helpers: fixed 4-d vectors at chosen cosines from a positive, marks, scores.

Vectors lie in the x-y plane at a chosen cosine from the label's positive (1, 0, 0, 0), so the
expected confidence is worked out by hand: (cosine - 0.9) / 0.1 at the default thresholds.
"""

from __future__ import annotations

import uuid

import numpy as np
from django.contrib.auth.models import User
from django.utils import timezone

from cloud.detections.models import Detection
from cloud.labels.models import Label, Mark, MarkEvent, Score, Value

POSITIVE = (1.0, 0.0, 0.0, 0.0)


def at(cosine: float, *, flip: bool = False) -> tuple[float, float, float, float]:
    """A unit vector at `cosine` from the positive (on the other side of it when `flip`)."""
    side = float(np.sqrt(1.0 - cosine**2))
    return (cosine, -side if flip else side, 0.0, 0.0)


def turned(degrees: float) -> tuple[float, float, float, float]:
    """A unit vector `degrees` from the positive, in the same plane."""
    radians = np.radians(degrees)
    return (float(np.cos(radians)), float(np.sin(radians)), 0.0, 0.0)


def mark(label: Label, detection: Detection, value: Value, user: User | None = None) -> None:
    """A mark made directly, with its event (what the mark service writes)."""
    now = timezone.now()
    Mark.objects.update_or_create(
        label=label, detection=detection, defaults={"value": value, "by": user, "at": now}
    )
    MarkEvent.objects.create(
        label=label, detection=detection, batch=uuid.uuid4(), after=value, by=user, at=now
    )


def similarity_scores(label: Label) -> dict[str, float]:
    """The label's similarity scores by detection id, rounded to 3 places."""
    return {
        score.detection_id: round(score.confidence, 3)
        for score in Score.objects.filter(label=label, source=Score.Source.SIMILARITY)
    }
