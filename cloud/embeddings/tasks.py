"""Celery tasks of the `embed` queue (routed there by `CELERY_TASK_ROUTES` in settings)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from cloud.embeddings import services
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable

# Only failures that a later attempt can fix; anything else fails the task at once.
TRANSIENT_ERRORS = (
    ObjectStoreUnavailable,
    VectorStoreUnavailable,
    OperationalError,
    InterfaceError,
)


@shared_task(
    acks_late=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=12,
    ignore_result=True,
)
def embed_detections(detection_ids: list[str]) -> int:
    """Embed these detections' crops (see `services.embed_detections`); return how many.

    Idempotent, so a redelivery after a worker crash (late acks) or a retry only overwrites.
    """
    return len(services.embed_detections(detection_ids).embedded)
