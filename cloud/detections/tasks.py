"""Celery tasks of the detections app, run by Celery beat (schedule in settings)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from cloud import backends
from cloud.detections.orphans import OrphanSweepSettings
from cloud.detections.orphans import sweep_orphan_crops as sweep


@shared_task(ignore_result=True)
def sweep_orphan_crops() -> int:
    """Delete crop objects that no detection row names (`cloud.detections.orphans`); return
    how many. A failure (object store down) waits for the next run."""
    report = sweep(
        backends.object_store(),
        OrphanSweepSettings.model_validate(settings.ORPHAN_SWEEP),
        now=timezone.now(),
    )
    return len(report.deleted)
