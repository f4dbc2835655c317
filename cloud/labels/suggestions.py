"""Suggestions by similarity: which unmarked crops probably have a label, judged by its marks.

One rule (`cloud.labels.spreading.spread_confidence`), two ways in:

- `refresh_suggestions(label_id)`, over existing crops, after the label's marks changed
  (`cloud.labels.tasks.refresh_label_suggestions`, queued by `marks_changed`): the candidates
  are the neighbours of each positive in the vector store at or above the label's positive
  threshold (fetched `FIRST_FETCH` at a time, four times more while the last one still passes,
  at most `MAX_NEIGHBOURS` per positive, as `cloud.search.similarity` pages); the candidates'
  and the negatives' vectors are fetched and scored; the confident ones get a
  `Score(source=similarity)` row and the label's other similarity scores are deleted.
- `score_new_crops(detections, vectors)`, a `VECTOR_CONSUMERS` entry of the embed worker: each
  batch of new crops against every label that has positives, with the marks' vectors cached in
  the worker process until the label's latest `MarkEvent` changes.

Similarity scores exist only for crops without a mark of the label: a marked crop's similarity
to the marks says nothing (a positive is its own copy), and the user's word on it is known. A
negative's near-duplicates get no score at all (the rule gives them 0), so a rejected
suggestion and its near-copies do not come back, from either way in.

Scores are over every camera: the suggestions page narrows them to what its user may see.
See docs/architecture.md, "Labels".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from cloud import backends
from cloud.detections.models import Detection
from cloud.labels.models import Label, Mark, MarkEvent, Score, Value
from cloud.labels.scores import upsert_scores
from cloud.labels.spreading import Vectors, spread_confidence
from cloud.lib.vectorstore import Filters, VectorStore, get_all
from cloud.lib.vectorstore.base import MAX_K

logger = logging.getLogger(__name__)

FIRST_FETCH: Final = 64
"""Neighbours of a positive fetched on the first query; four times more while the last one
still reaches the positive threshold."""
MAX_NEIGHBOURS: Final = 1024
"""Most neighbours looked at per positive: a positive with more than this many crops above
the threshold (a parked car seen all day) suggests the nearest of them, not all."""

SIMILARITY: Final = Score.Source.SIMILARITY


def latest_mark_event(label_id: int) -> int | None:
    """The id of the label's latest `MarkEvent` (ids only grow); None before its first mark."""
    return (
        MarkEvent.objects.filter(label_id=label_id)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )


def _latest_event_subquery() -> Subquery:
    return Subquery(MarkEvent.objects.filter(label=OuterRef("pk")).order_by("-id").values("id")[:1])


def fetch_vectors(store: VectorStore, detection_ids: Iterable[str]) -> tuple[list[str], Vectors]:
    """The unit vectors of those crops that have one, as rows, with their ids in row order."""
    items = get_all(store, list(detection_ids))
    if not items:
        return [], np.zeros((0, store.dimension), dtype=np.float32)
    return [item.detection_id for item in items], np.stack([item.vector for item in items])


def marked_ids(label_id: int, value: Value | None = None) -> list[str]:
    """The crops the label has a mark on (of `value`, or either)."""
    marks = Mark.objects.filter(label_id=label_id)
    if value is not None:
        marks = marks.filter(value=value)
    return list(marks.values_list("detection_id", flat=True))


def neighbours(
    store: VectorStore, vector: Vectors, threshold: float, *, exclude_ids: Collection[str] = ()
) -> list[str]:
    """The crops whose cosine similarity with `vector` reaches `threshold`, nearest first, at
    most `MAX_NEIGHBOURS` of them, `exclude_ids` left out."""
    filters = Filters(exclude_ids=exclude_ids)
    fetch = FIRST_FETCH
    while True:
        hits = store.query(vector, k=min(fetch, MAX_K), filters=filters)
        found = [hit.detection_id for hit in hits if hit.score >= threshold]
        if len(hits) < fetch or len(found) < len(hits) or fetch >= MAX_NEIGHBOURS:
            return found[:MAX_NEIGHBOURS]
        fetch = min(MAX_NEIGHBOURS, fetch * 4)


@dataclass(frozen=True)
class RefreshReport:
    """What one `refresh_suggestions` did."""

    positives: int = 0
    """Positives with a vector, whose neighbours were the candidates."""
    negatives: int = 0
    """Negatives with a vector."""
    candidates: int = 0
    """Unmarked crops found near a positive."""
    suggested: int = 0
    """Crops the label now has a similarity score for."""
    removed: int = 0
    """Earlier similarity scores that no longer hold, deleted."""
    superseded: bool = False
    """The marks changed while it ran: nothing was written, the next refresh will."""


def refresh_suggestions(label_id: int, *, store: VectorStore | None = None) -> RefreshReport:
    """Score the unmarked crops near the label's positives again; see the module docstring.

    Idempotent. A label deleted meanwhile is nothing to do. When a batch of marks lands while
    it runs, it writes nothing (that batch queued a refresh of its own), so an older refresh
    can never overwrite a newer one's scores. Raises what the stores raise
    (`VectorStoreUnavailable`, database errors): the task retries those.
    """
    label = Label.objects.filter(pk=label_id).first()
    if label is None:
        return RefreshReport()
    store = store or backends.vector_store()
    started = timezone.now()
    version = latest_mark_event(label_id)
    positive_ids, positives = fetch_vectors(store, marked_ids(label_id, Value.POSITIVE))
    _, negatives = fetch_vectors(store, marked_ids(label_id, Value.NEGATIVE))
    marked = set(marked_ids(label_id))
    candidates: dict[str, None] = {}  # ordered and unique
    for vector in positives:
        for found in neighbours(store, vector, label.positive_threshold, exclude_ids=marked):
            candidates[found] = None
    # The vector store may still hold crops whose rows were deleted; they get no score.
    existing = set(Detection.objects.filter(pk__in=candidates).values_list("pk", flat=True))
    candidate_ids, candidate_vectors = fetch_vectors(
        store, [c for c in candidates if c in existing]
    )
    confidence = spread_confidence(
        candidate_vectors,
        positives,
        negatives,
        positive_threshold=label.positive_threshold,
        negative_threshold=label.negative_threshold,
    )
    scores = {
        detection_id: float(value)
        for detection_id, value in zip(candidate_ids, confidence, strict=True)
        if value > 0
    }
    with transaction.atomic():
        # The label's row orders concurrent refreshes of it; under that lock, a refresh that
        # read older marks than are now committed leaves the writing to the newer one.
        if not list(Label.objects.select_for_update().filter(pk=label_id).values_list("pk")):
            return RefreshReport()
        if latest_mark_event(label_id) != version:
            logger.info("label %s: marks changed during the refresh; left to the next", label_id)
            return RefreshReport(superseded=True)
        upsert_scores(label_id, SIMILARITY, scores, version=0, at=started)
        # Scores the new-crop consumer wrote after this refresh started stay: they were made
        # from marks at least as new as these.
        removed, _ = (
            Score.objects.filter(label_id=label_id, source=SIMILARITY, updated_at__lt=started)
            .exclude(detection_id__in=scores)
            .delete()
        )
    report = RefreshReport(
        positives=len(positive_ids),
        negatives=len(negatives),
        candidates=len(candidates),
        suggested=len(scores),
        removed=removed,
    )
    logger.info("label %s: suggestions refreshed: %s", label_id, report)
    return report


def forget_near_duplicates(label: Label, negative_ids: Iterable[str], store: VectorStore) -> int:
    """Delete the label's similarity scores of crops at or above its negative threshold from
    any of these negatives; return how many. What a refresh would do for them, at once."""
    _, negatives = fetch_vectors(store, negative_ids)
    near = {
        found
        for vector in negatives
        for found in neighbours(store, vector, label.negative_threshold)
    }
    deleted, _ = Score.objects.filter(
        label=label, source=SIMILARITY, detection_id__in=near
    ).delete()
    return deleted


@dataclass(frozen=True)
class _MarkVectors:
    """One label's marks' vectors as a worker process last read them."""

    version: int | None
    """`latest_mark_event` when they were read."""
    positives: Vectors
    negatives: Vectors


class _MarkCache:
    """Each label's marks' vectors, read again when its latest `MarkEvent` changes.

    Per process: the embed worker scores every batch against every label, and fetching the
    marks' vectors each time would cost one vector-store read per mark per batch.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._labels: dict[int, _MarkVectors] = {}

    def get(self, store: VectorStore, label_id: int, version: int | None) -> _MarkVectors:
        with self._lock:
            cached = self._labels.get(label_id)
        if cached is not None and cached.version == version:
            return cached
        _, positives = fetch_vectors(store, marked_ids(label_id, Value.POSITIVE))
        _, negatives = fetch_vectors(store, marked_ids(label_id, Value.NEGATIVE))
        fresh = _MarkVectors(version, positives, negatives)
        with self._lock:
            self._labels[label_id] = fresh
        return fresh

    def keep_only(self, label_ids: Collection[int]) -> None:
        """Forget labels deleted or left without positives."""
        with self._lock:
            for label_id in set(self._labels) - set(label_ids):
                del self._labels[label_id]


mark_cache: Final = _MarkCache()


@dataclass(frozen=True)
class _LabelToScore:
    pk: int
    positive_threshold: float
    negative_threshold: float
    latest_event: int | None


"""This process's cache of marks' vectors (`score_new_crops`)."""


def score_new_crops(detections: Sequence[Detection], vectors: Vectors) -> None:
    """The embed worker's `VectorConsumer`: score new crops against every label's marks.

    One query finds the labels with positives (none: done); each label's marks' vectors come
    from `mark_cache`. A crop confident enough gets its similarity score, any other loses the
    one it had (a retried batch or `reembed` scored again from newer marks), and a crop the
    label has a mark on is left alone. Idempotent; store errors propagate.
    """
    if not detections:
        return
    labels = [
        _LabelToScore(*row)
        for row in Label.objects.filter(
            Exists(Mark.objects.filter(label=OuterRef("pk"), value=Value.POSITIVE))
        )
        .annotate(latest_event=_latest_event_subquery())
        .values_list("id", "positive_threshold", "negative_threshold", "latest_event")
    ]
    mark_cache.keep_only([label.pk for label in labels])
    if not labels:
        return
    store = backends.vector_store()
    ids = [detection.id for detection in detections]
    tracks = {detection.id: detection.track_id for detection in detections}
    marked = set(
        Mark.objects.filter(
            detection_id__in=ids, label_id__in=[label.pk for label in labels]
        ).values_list("label_id", "detection_id")
    )
    now = timezone.now()
    confident: dict[int, dict[str, float]] = {}
    stale = Q(pk__in=[])
    for label in labels:
        marks = mark_cache.get(store, label.pk, label.latest_event)
        confidence = spread_confidence(
            vectors,
            marks.positives,
            marks.negatives,
            positive_threshold=label.positive_threshold,
            negative_threshold=label.negative_threshold,
        )
        unmarked = [(i, value) for i, value in zip(ids, confidence, strict=True)]
        unmarked = [(i, value) for i, value in unmarked if (label.pk, i) not in marked]
        confident[label.pk] = {i: float(value) for i, value in unmarked if value > 0}
        dropped = [i for i, value in unmarked if value <= 0]
        if dropped:
            stale |= Q(label_id=label.pk, detection_id__in=dropped)
    with transaction.atomic():
        for label_id, scores in confident.items():
            upsert_scores(label_id, SIMILARITY, scores, version=0, at=now, tracks=tracks)
        Score.objects.filter(stale, source=SIMILARITY).delete()
    suggested = sum(map(len, confident.values()))
    if suggested:
        logger.info("new crops: %d similarity suggestions over %d labels", suggested, len(labels))
