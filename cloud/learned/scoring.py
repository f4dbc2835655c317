"""Scoring crops with the labels' classifiers: in the embed worker, and in backfills.

`score_new_crops` is a `VECTOR_CONSUMERS` entry (`cloud.embeddings.analysers`): every batch of
new crops goes through every label's classifier in use, one matrix product for all of them,
and a crop at or above a classifier's threshold gets a `Score` of source ``classifier`` with
the classifier's version; a crop below it has none (a row left from an earlier run is
removed, so scoring again is idempotent). The confidence is the probability stretched so that
0.5 is the classifier's own threshold (`cloud.learned.logistic.confidence`): every classifier
score is at least 0.5, and 0.5 means the same for every label and version.

Classifiers are plain numbers (`cloud.learned.logistic`), cached per process by id: a version
never changes once stored, so each batch asks the database only which versions are in use and
loads the few it has not seen. A classifier trained on another vector collection or dimension
(an earlier embedding) is never applied to these vectors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from django.utils import timezone

from cloud import backends
from cloud.detections.models import Detection
from cloud.labels.models import Score
from cloud.labels.scores import upsert_scores
from cloud.learned.logistic import Vectors, confidence, probabilities
from cloud.learned.models import Classifier, LearnedLabel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """A classifier version as numbers, ready to score."""

    label_id: int
    classifier_id: int
    version: int
    weights: npt.NDArray[np.float64]
    bias: float
    threshold: float

    @classmethod
    def of(cls, row: Classifier) -> Loaded:
        return cls(
            label_id=row.label_id,
            classifier_id=row.pk,
            version=row.version,
            weights=np.asarray(row.weights, dtype=np.float64),
            bias=row.bias,
            threshold=row.threshold,
        )


# By id and training time: a version never changes once stored, but SQLite may hand the id of
# a deleted row to a new one.
_cache: dict[tuple[int, datetime], Loaded] = {}
_cache_lock = threading.Lock()


def classifiers_in_use(dimension: int) -> list[Loaded]:
    """The classifier of every label that has one for this deployment's vectors; one query,
    plus one for versions this process has not loaded yet."""
    in_use = set(
        LearnedLabel.objects.filter(
            classifier__collection=backends.crop_collection(), classifier__dimension=dimension
        ).values_list("classifier_id", "classifier__trained_at")
    )
    with _cache_lock:
        missing = in_use - _cache.keys()
        if missing:
            for row in Classifier.objects.filter(pk__in=[pk for pk, _ in missing]):
                _cache[row.pk, row.trained_at] = Loaded.of(row)
        for gone in _cache.keys() - in_use:
            del _cache[gone]  # retired or superseded: never used again
        return [_cache[key] for key in sorted(in_use) if key in _cache]


def store_scores(
    classifier: Loaded,
    detection_ids: Sequence[str],
    probability: npt.NDArray[np.float64],
    *,
    clear_below: bool,
    tracks: Mapping[str, str] | None = None,
) -> int:
    """Write the scores of these crops at or above the threshold, as `confidence` (0.5 at
    the threshold); return how many.

    `clear_below` also deletes the label's classifier scores of the crops below the
    threshold (new crops; a backfill instead deletes every older version's row at its end).
    `tracks` (crop id -> track id) saves a query where the caller has the rows.
    """
    above = probability >= classifier.threshold
    confident = confidence(probability, classifier.threshold)
    written = upsert_scores(
        classifier.label_id,
        Score.Source.CLASSIFIER,
        {
            detection_id: float(value)
            for detection_id, value, keep in zip(detection_ids, confident, above, strict=True)
            if keep
        },
        version=classifier.version,
        at=timezone.now(),
        tracks=tracks,
    )
    if clear_below and not above.all():
        below = [
            detection_id
            for detection_id, keep in zip(detection_ids, above, strict=True)
            if not keep
        ]
        Score.objects.filter(
            label_id=classifier.label_id,
            source=Score.Source.CLASSIFIER,
            detection_id__in=below,
        ).delete()
    return written


def score_new_crops(detections: Sequence[Detection], vectors: Vectors) -> None:
    """The `VECTOR_CONSUMERS` entry: score new crops with every classifier in use."""
    classifiers = classifiers_in_use(vectors.shape[1]) if len(detections) else []
    if not classifiers:
        return
    probability = probabilities(
        vectors,
        np.stack([c.weights for c in classifiers]),
        np.array([c.bias for c in classifiers]),
    )
    tracks = {row.id: row.track_id for row in detections}
    for column, classifier in enumerate(classifiers):
        column_of = probability[:, column]
        store_scores(classifier, list(tracks), column_of, clear_below=True, tracks=tracks)
