"""Which crops and tracks have a label, as search filters by it.

A crop has a label when a user marked it positive, or when the learned classifier
(`Score.Source.CLASSIFIER`) is at least `LEARNED_MIN_CONFIDENCE` sure of it and no user marked
it negative: a user's word always beats the system's guess. Similarity scores are not labels:
they are suggestions for a user to accept or reject, and an accepted one is a positive mark.
A track has a label when any of its crops has it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from django.db.models import Exists, OuterRef, Q, QuerySet

from cloud.detections.models import Detection
from cloud.labels.models import Mark, Score, Value

LEARNED_MIN_CONFIDENCE: Final = 0.5
"""Classifier confidence from which an unmarked crop counts as having the label in search."""


def labelled_crops(label_ids: Collection[int]) -> QuerySet[Detection]:
    """The crops that have any of the labels `label_ids` (see the module docstring)."""
    ids = sorted(label_ids)
    positives = Mark.objects.filter(label_id__in=ids, value=Value.POSITIVE)
    negative = Mark.objects.filter(
        label_id=OuterRef("label_id"), detection_id=OuterRef("detection_id"), value=Value.NEGATIVE
    )
    learned = Score.objects.filter(
        label_id__in=ids,
        source=Score.Source.CLASSIFIER,
        confidence__gte=LEARNED_MIN_CONFIDENCE,
    ).exclude(Exists(negative))
    return Detection.objects.filter(
        Q(pk__in=positives.values("detection_id")) | Q(pk__in=learned.values("detection_id"))
    )


def labelled_track_ids(label_ids: Collection[int]) -> QuerySet[Detection, str]:
    """The ids of the tracks that have any of the labels, as a subquery."""
    return labelled_crops(label_ids).values_list("track_id", flat=True)
