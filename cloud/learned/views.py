"""A label's classifier page: status, held-out precision and recall, versions, the backfill's
progress (polled as JSON), and "Train now" for labelers.

Labels are shared by every user, and the page shows only figures about the label's marks, no
crops, so any logged-in user may read it; training needs the labeler role.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from cloud import backends
from cloud.access.models import Role
from cloud.access.roles import has_role, require_role
from cloud.labels.models import Label, Mark, Value
from cloud.learned.models import Backfill, Classifier, LearnedLabel
from cloud.learned.tasks import queue_training
from cloud.learned.training import MIN_MARKS, MIN_TRACKS


def _backfill(classifier: Classifier | None) -> dict[str, Any] | None:
    if classifier is None:
        return None
    job = Backfill.objects.filter(pk=classifier.pk).first()
    if job is None:
        return None
    return {
        "version": classifier.version,
        "total": job.total,
        "done": min(job.done, job.total),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "error": job.error,
    }


def _state(label: Label) -> dict[str, Any]:
    learned = LearnedLabel.objects.select_related("classifier").filter(pk=label.pk).first()
    classifier = learned.classifier if learned else None
    return {
        "status": learned.status if learned and learned.status else "never trained",
        "status_at": learned.status_at.isoformat() if learned and learned.status_at else None,
        "queued": bool(learned and learned.queued_at),
        "classifier": None
        if classifier is None
        else {
            "version": classifier.version,
            "precision": classifier.precision,
            "recall": classifier.recall,
            "threshold": classifier.threshold,
            "positives": classifier.positives,
            "negatives": classifier.negatives,
            "folds": classifier.folds,
            "trained_at": classifier.trained_at.isoformat(),
            "training_s": classifier.training_s,
            "current_embedding": classifier.collection == backends.crop_collection(),
        },
        "backfill": _backfill(classifier),
    }


@require_safe
def classifier(request: HttpRequest, label_id: int) -> HttpResponse:
    """The page of the label's classifier."""
    label = get_object_or_404(Label, pk=label_id)
    marks = Mark.objects.filter(label=label)
    return render(
        request,
        "learned/classifier.html",
        {
            "label": label,
            "state": _state(label),
            "versions": Classifier.objects.filter(label=label)[:20],
            "positives": marks.filter(value=Value.POSITIVE).count(),
            "negatives": marks.filter(value=Value.NEGATIVE).count(),
            "min_marks": MIN_MARKS,
            "min_tracks": MIN_TRACKS,
            "can_train": has_role(request.user, Role.LABELER),
        },
    )


@require_safe
def progress(request: HttpRequest, label_id: int) -> JsonResponse:
    """The classifier's state and backfill progress, as the page polls it."""
    return JsonResponse(_state(get_object_or_404(Label, pk=label_id)))


@require_POST
@require_role(Role.LABELER)
def train(request: HttpRequest, label_id: int) -> HttpResponse:
    """Queue a training now (unless one is queued already)."""
    label = get_object_or_404(Label, pk=label_id)
    if queue_training(label.pk, delay_s=0):
        messages.success(request, f"Training of {label.name} queued.")
    else:
        messages.info(request, f"A training of {label.name} is queued already.")
    return redirect("learned:classifier", label_id=label.pk)
