"""Retraining a label's classifier when its marks change (`cloud.labels.signals`)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from cloud.labels.signals import marks_changed
from cloud.learned.tasks import queue_training


@receiver(marks_changed, dispatch_uid="cloud.learned.retrain")
def retrain_on_marks(sender: Any, label_id: int, **_kwargs: Any) -> None:
    """Queue a training of the label; a burst of changes collapses into one (`tasks`)."""
    queue_training(label_id)
