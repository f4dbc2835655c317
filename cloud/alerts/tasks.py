"""Celery tasks of alerts: one webhook delivery per event (routed to the `embed` queue, which
every deployment's workers serve, by `CELERY_TASK_ROUTES`)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from cloud.alerts.models import AlertEvent, Delivery
from cloud.alerts.notifications import DeliveryError, alert_settings, post
from sightline.backoff import Backoff, BackoffSettings

logger = logging.getLogger(__name__)

RETRY_BACKOFF = BackoffSettings(initial_s=1.0, max_s=60.0)
"""Waits between POSTs of one event. Capped at a minute: a retry waits in its worker's memory,
unacknowledged, and a wait past the broker's visibility timeout would deliver it twice (as the
embed task's `RETRY_BACKOFF_MAX_S`)."""


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed POST (the system's backoff policy,
    `sightline.backoff`)."""
    backoff = Backoff(RETRY_BACKOFF)
    delay = 0.0
    for _ in range(attempts):
        delay = backoff.next_delay()
    return delay


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=None,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=60,
)
def deliver_webhook(self: Task[Any, Any], event_id: int) -> str:
    """POST the event to its alert's webhook, retrying while the receiver is unreachable;
    record it sent, or failed after a refusal or `webhook_attempts` POSTs. Returns the outcome.

    A redelivered task (a worker killed after the POST, before the row was marked) POSTs again:
    delivery is at least once, and the body's ``event`` id lets a receiver drop a repeat.
    """
    event = (
        AlertEvent.objects.select_related("alert__label", "detection__camera__device")
        .filter(pk=event_id)
        .first()
    )
    if event is None or event.webhook != Delivery.PENDING:
        return "skipped"
    configured = alert_settings()
    attempts = event.webhook_attempts + 1
    try:
        post(event, timeout_s=configured.webhook_timeout_s)
    except DeliveryError as err:
        done = err.permanent or attempts >= configured.webhook_attempts
        AlertEvent.objects.filter(pk=event_id).update(
            webhook=Delivery.FAILED if done else Delivery.PENDING,
            webhook_attempts=attempts,
            webhook_error=str(err)[:500],
            webhook_at=timezone.now(),
        )
        if done:
            logger.warning(
                "alert %d: webhook of event %d failed after %d POSTs: %s",
                event.alert_id, event_id, attempts, err,
            )  # fmt: skip
            return "failed"
        logger.info("alert %d: webhook of event %d: %s; retrying", event.alert_id, event_id, err)
        raise self.retry(countdown=retry_delay(attempts), exc=err) from err
    AlertEvent.objects.filter(pk=event_id).update(
        webhook=Delivery.SENT,
        webhook_attempts=attempts,
        webhook_error="",
        webhook_at=timezone.now(),
    )
    return "sent"
