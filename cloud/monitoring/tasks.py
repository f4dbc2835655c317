"""Celery tasks of the monitoring app, queued by beat (`CELERY_BEAT_SCHEDULE` in settings)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from cloud.monitoring import alerts, rollup
from cloud.monitoring.config import monitoring_settings


@shared_task(acks_late=True)
def evaluate_alerts() -> tuple[int, int]:
    """Raise and resolve device alerts (`cloud.monitoring.alerts`); (raised, resolved)."""
    return alerts.evaluate_alerts(timezone.now(), monitoring_settings())


@shared_task(acks_late=True)
def roll_up_samples() -> tuple[int, int]:
    """Fold aged heartbeat samples into roll-ups and expire old roll-ups
    (`cloud.monitoring.rollup`); (samples folded, roll-ups deleted)."""
    return rollup.roll_up(timezone.now(), monitoring_settings())
