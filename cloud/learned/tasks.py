"""Celery tasks of learned labels, on the `embed` queue (`CELERY_TASK_ROUTES`).

Marks arrive in bursts (a user clicking through crops, a bulk accept), and each burst should
cost one training: `queue_training` queues a training `TRAIN_DELAY_S` ahead unless one is
queued already, and the training clears that mark when it starts, so marks changed while it
runs queue the next one. A queued training lost with its broker would block every later one,
so a mark older than `QUEUED_STALE_S` no longer counts. Both tasks are idempotent and are
retried only while a store is unavailable (`retried_when_transient`), as the embed task is.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cloud.embeddings.tasks import retried_when_transient
from cloud.labels.models import Label
from cloud.learned import services
from cloud.learned.models import LearnedLabel

logger = logging.getLogger(__name__)

TRAIN_DELAY_S: Final = 5.0
"""How long a training waits for more marks of the same burst."""
QUEUED_STALE_S: Final = 600.0
"""After this long a queued training that never started is taken as lost."""
BACKFILL_SLICE_S: Final = 60.0
"""Seconds of one backfill task before it queues its continuation (within the time limits)."""


def queue_training(label_id: int, *, delay_s: float = TRAIN_DELAY_S) -> bool:
    """Queue a training of the label unless one is queued already; True if this queued it."""
    now = timezone.now()
    if not Label.objects.filter(pk=label_id).exists():
        return False
    LearnedLabel.objects.get_or_create(label_id=label_id)
    claimed = (
        LearnedLabel.objects.filter(label_id=label_id)
        .filter(
            Q(queued_at__isnull=True) | Q(queued_at__lt=now - timedelta(seconds=QUEUED_STALE_S))
        )
        .update(queued_at=now)
    )
    if claimed:
        train_label.apply_async((label_id,), countdown=delay_s)
    return bool(claimed)


@retried_when_transient
def train_label(label_id: int) -> str:
    """Train the label's classifier (`services.train_label`), then queue its backfill."""
    if not Label.objects.filter(pk=label_id).exists():
        return "label deleted"
    outcome = services.train_label(label_id)
    if outcome.classifier_id is not None:
        classifier_id = outcome.classifier_id
        transaction.on_commit(lambda: backfill_classifier.delay(classifier_id))
    return outcome.status


@retried_when_transient
def backfill_classifier(classifier_id: int) -> bool:
    """Score existing crops with a classifier for `BACKFILL_SLICE_S`, then queue the rest."""
    finished = services.backfill(classifier_id, budget_s=BACKFILL_SLICE_S)
    if not finished:
        backfill_classifier.delay(classifier_id)
    return finished
