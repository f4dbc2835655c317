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


def _positives(**where: object) -> QuerySet[Mark]:
    return Mark.objects.filter(value=Value.POSITIVE, **where)


def _learned(**where: object) -> QuerySet[Score]:
    negative = Mark.objects.filter(
        label_id=OuterRef("label_id"), detection_id=OuterRef("detection_id"), value=Value.NEGATIVE
    )
    return Score.objects.filter(
        source=Score.Source.CLASSIFIER, confidence__gte=LEARNED_MIN_CONFIDENCE, **where
    ).exclude(Exists(negative))


def labelled_crops(label_ids: Collection[int]) -> QuerySet[Detection]:
    """The crops that have any of the labels `label_ids` (see the module docstring)."""
    ids = sorted(label_ids)
    positives = _positives(label_id__in=ids).values("detection_id")
    learned = _learned(label_id__in=ids).values("detection_id")
    return Detection.objects.filter(Q(pk__in=positives) | Q(pk__in=learned))


def labels_of_tracks(track_ids: Collection[str]) -> dict[str, list[str]]:
    """The names of the labels each of these tracks has, sorted (tracks without any left out)."""
    ids = sorted(track_ids)
    pairs = {
        *_positives(detection__track_id__in=ids).values_list("detection__track_id", "label__name"),
        *_learned(track_id__in=ids).values_list("track_id", "label__name"),
    }
    names: dict[str, list[str]] = {}
    for track_id, name in sorted(pairs):
        names.setdefault(track_id, []).append(name)
    return names


def labelled_tracks(label_ids: Collection[int], field: str = "pk") -> Q:
    """A condition on `field` (a track id: ``pk`` of a track, ``track_id`` of a detection):
    the track has any of the labels `label_ids`.

    Two independent subqueries of track ids (marked, learned) rather than a test of each
    track's crops: PostgreSQL hashes each once, so walking the tracks in time order costs a
    hash probe per track (tests/bench/bench_track_grid.py). The learned one reads the scores'
    own copy of the track (`Score.track`) from their index, never the detections: a learned
    label may score a tenth of a million crops."""
    ids = sorted(label_ids)
    positives = _positives(label_id__in=ids).values("detection__track_id")
    learned = _learned(label_id__in=ids).values("track_id")
    return Q(**{f"{field}__in": positives}) | Q(**{f"{field}__in": learned})
