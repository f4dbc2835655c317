"""Training a label's classifier and backfilling its scores: what the tasks and the
`train_label` command run.

Training reads the label's marks (`cloud.labels.models.Mark`) and their crop vectors from the
vector store, trains (`cloud.learned.training`) and stores a new `Classifier` version as the
label's classifier in use, with a `Backfill` to score every existing crop. Training again on
the very same marks (and the same embedding) changes nothing, so repeated requests are cheap.
When the marks are no longer enough, the label's classifier is retired and its scores deleted:
it no longer stands for what the user marked.

A backfill scores the crops embedded when it started, in id order, a page of ids at a time
(vectors fetched in one call per page, `VectorStore.get_many`), and records its cursor after
each page, so a backfill interrupted by a restart, a time limit or a redelivered task goes on
from there; newer crops are scored by the embed worker as they come. Two runs of one backfill
cannot both advance it: each page's progress is written only if the cursor is still where the
run read it. At the end, scores of older versions left over (crops the new version puts below
its threshold) are deleted. A backfill whose classifier was superseded meanwhile stops.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from cloud import backends
from cloud.detections.models import Detection
from cloud.labels.models import Label, Mark, Score, Value
from cloud.learned import training
from cloud.learned.logistic import Vectors, probabilities
from cloud.learned.models import Backfill, Classifier, LearnedLabel
from cloud.learned.scoring import Loaded, store_scores
from cloud.lib.vectorstore import VectorStore, get_all

logger = logging.getLogger(__name__)

PAGE: Final = 1000
"""Crops per page of a backfill: one vector fetch, one matrix product, one bulk write."""


@dataclass(frozen=True)
class Outcome:
    """What one training did: `status` in words, and the classifier version it stored."""

    status: str
    classifier_id: int | None = None


def _vectors(store: VectorStore, ids: list[str]) -> dict[str, Vectors]:
    return {item.detection_id: item.vector for item in get_all(store, ids)}


def marks_digest(collection: str, marks: list[tuple[str, str, str]]) -> str:
    """A digest of what a training reads: the collection and every (crop, value, track)."""
    text = "\n".join([collection, *(" ".join(mark) for mark in sorted(marks))])
    return hashlib.sha256(text.encode()).hexdigest()


def train_label(label_id: int, *, vectors: VectorStore | None = None) -> Outcome:
    """Train the label's classifier from its current marks (see the module docstring)."""
    learned, _ = LearnedLabel.objects.get_or_create(label_id=label_id)
    # Cleared first: marks changed from now on queue another training after this one.
    LearnedLabel.objects.filter(pk=learned.pk).update(queued_at=None)
    started = time.perf_counter()
    collection = backends.crop_collection()
    marks = [
        (detection_id, value, track_id)
        for detection_id, value, track_id in Mark.objects.filter(label_id=label_id).values_list(
            "detection_id", "value", "detection__track_id"
        )
    ]
    digest = marks_digest(collection, marks)
    current = learned.classifier
    if current is not None and current.marks_digest == digest:
        return Outcome(f"up to date: version {current.version} was trained on these marks")
    store = vectors or backends.vector_store()
    found = _vectors(store, [detection_id for detection_id, _, _ in marks])
    usable = [mark for mark in marks if mark[0] in found]
    left_out = len(marks) - len(usable)
    try:
        trained = training.train(
            training.Marks(
                vectors=np.array([found[m[0]] for m in usable], dtype=np.float32).reshape(
                    len(usable), store.dimension
                ),
                positive=np.array([m[1] == Value.POSITIVE for m in usable], dtype=np.bool_),
                tracks=[m[2] for m in usable],
            )
        )
    except training.NotEnoughMarks as err:
        status = f"not trained: {err}"
        if left_out:
            status += f" ({left_out} marked crops have no vector yet)"
        retire(label_id, status)
        return Outcome(status)
    with transaction.atomic():
        locked = LearnedLabel.objects.select_for_update().get(pk=label_id)
        version = (
            Classifier.objects.filter(label_id=label_id).aggregate(Max("version"))["version__max"]
            or 0
        ) + 1
        classifier = Classifier.objects.create(
            label_id=label_id,
            version=version,
            collection=collection,
            dimension=store.dimension,
            weights=[float(w) for w in trained.weights],
            bias=trained.bias,
            threshold=trained.threshold,
            positives=trained.positives,
            negatives=trained.negatives,
            folds=trained.folds,
            precision=trained.precision,
            recall=trained.recall,
            marks_digest=digest,
            trained_at=timezone.now(),
            training_s=time.perf_counter() - started,
        )
        Backfill.objects.create(classifier=classifier)
        status = (
            f"version {version} trained on {trained.positives} positive and "
            f"{trained.negatives} negative crops in {classifier.training_s:.1f} s"
        )
        if left_out:
            status += f" ({left_out} marked crops have no vector yet)"
        locked.classifier = classifier
        locked.status, locked.status_at = status, timezone.now()
        locked.save(update_fields=("classifier", "status", "status_at"))
    logger.info("label %s: %s", label_id, status)
    return Outcome(status, classifier.pk)


def retire(label_id: int, status: str) -> None:
    """Stop the label's classifier from scoring and delete its scores."""
    with transaction.atomic():
        LearnedLabel.objects.select_for_update().filter(pk=label_id).update(
            classifier=None, status=status[:300], status_at=timezone.now()
        )
        Score.objects.filter(label_id=label_id, source=Score.Source.CLASSIFIER).delete()


def _pages(until: str, after: str) -> Iterator[list[str]]:
    """Embedded crops' ids after `after` up to `until`, in id order, a page at a time."""
    rows = Detection.objects.filter(embedded_at__isnull=False, id__lte=until).order_by("id")
    while page := list(rows.filter(id__gt=after).values_list("id", flat=True)[:PAGE]):
        yield page
        after = page[-1]


def backfill(
    classifier_id: int, *, budget_s: float = float("inf"), vectors: VectorStore | None = None
) -> bool:
    """Score existing crops with this classifier, a page at least and then pages while
    `budget_s` seconds last; return True when the backfill is finished (or stopped), False
    when there is more to do."""
    job = Backfill.objects.select_related("classifier").filter(pk=classifier_id).first()
    if job is None or job.finished_at is not None:
        return True  # deleted with its label, or done
    classifier = job.classifier
    if job.started_at is None:
        crops = Detection.objects.filter(embedded_at__isnull=False)
        last = crops.order_by("-id").values_list("id", flat=True).first() or ""
        Backfill.objects.filter(pk=classifier_id, started_at__isnull=True).update(
            started_at=timezone.now(), total=crops.count(), until=last, after=""
        )
        job.refresh_from_db()
    store = vectors or backends.vector_store()
    loaded = Loaded.of(classifier)
    deadline = time.monotonic() + budget_s
    after = job.after
    for scored, page in enumerate(_pages(job.until, after)):
        if scored and time.monotonic() >= deadline:
            return False
        if not LearnedLabel.objects.filter(
            label_id=classifier.label_id, classifier=classifier
        ).exists():
            _finish(classifier_id, error="stopped: the label has a newer classifier, or none")
            return True
        items = store.get_many(page)
        if items:
            probability = probabilities(
                np.stack([item.vector for item in items]), loaded.weights, loaded.bias
            )
            store_scores(
                loaded, [item.detection_id for item in items], probability, clear_below=False
            )
        moved = Backfill.objects.filter(pk=classifier_id, after=after).update(
            after=page[-1], done=F("done") + len(page)
        )
        if not moved:
            logger.info("backfill of classifier %s goes on in another run", classifier_id)
            return True
        after = page[-1]
    Score.objects.filter(
        label_id=classifier.label_id,
        source=Score.Source.CLASSIFIER,
        version__lt=classifier.version,
    ).delete()
    _finish(classifier_id)
    return True


def _finish(classifier_id: int, *, error: str = "") -> None:
    Backfill.objects.filter(pk=classifier_id).update(finished_at=timezone.now(), error=error)


def label_named(name: str) -> Label:
    """The label called `name`, whatever its case (`Label.DoesNotExist` otherwise)."""
    return Label.objects.get(name__iexact=name)
