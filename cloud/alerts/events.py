"""Recording matches as events, once per (alert, crop), with the alert's rate limit.

`record` runs with the alert's row locked, so two workers matching the same crop (a retried
batch beside its first run) or two crops for one alert at once are serialised: the first
records the event and the second finds it. Within the alert's `min_interval_s` of its last
notification a match is recorded as suppressed (nothing sent), and the next notification says
how many were suppressed before it. Delivery is queued after the commit: the webhook as a
Celery task (`cloud.alerts.tasks.deliver_webhook`), MQTT by marking the event pending for the
bridge (`cloud.alerts.publisher`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cloud.alerts.models import Alert, AlertEvent, Delivery
from cloud.alerts.tasks import deliver_webhook
from cloud.detections.models import Detection

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Match:
    """A crop that matched an alert, and the score that matched (None: no score involved)."""

    detection: Detection
    score: float | None


def may_notify(last_notified_at: datetime | None, min_interval_s: int, now: datetime) -> bool:
    """Whether an alert last notified at `last_notified_at` may notify again at `now`."""
    return last_notified_at is None or (now - last_notified_at).total_seconds() >= min_interval_s


def record(alert: Alert, matches: Sequence[Match]) -> list[AlertEvent]:
    """Record the matches `alert` has no event for yet; return the new events."""
    with transaction.atomic():
        locked = Alert.objects.select_for_update().get(pk=alert.pk)
        done = set(
            AlertEvent.objects.filter(
                alert=locked, detection_id__in=[match.detection.id for match in matches]
            ).values_list("detection_id", flat=True)
        )
        events: list[AlertEvent] = []
        for match in matches:
            if match.detection.id in done:
                continue
            done.add(match.detection.id)
            now = timezone.now()
            event = AlertEvent(
                alert=locked,
                detection=match.detection,
                track_id=match.detection.track_id,
                score=match.score,
                matched_at=now,
            )
            if may_notify(locked.last_notified_at, locked.min_interval_s, now):
                event.suppressed_before = locked.suppressed_count
                event.webhook = Delivery.PENDING if locked.webhook_url else Delivery.NONE
                event.mqtt = Delivery.PENDING if locked.mqtt else Delivery.NONE
                locked.last_notified_at = now
                locked.suppressed_count = 0
            else:
                event.suppressed = True
                locked.suppressed_count += 1
            events.append(event)
        if not events:
            return []
        AlertEvent.objects.bulk_create(events)
        locked.save(update_fields=["last_notified_at", "suppressed_count"])
        webhooks = [event.pk for event in events if event.webhook == Delivery.PENDING]

        def queue_webhooks() -> None:
            for pk in webhooks:
                deliver_webhook.delay(pk)

        # After the commit: the task must find the event, and a rolled-back one sends nothing.
        transaction.on_commit(queue_webhooks)
    logger.info(
        "alert %d matched %d new crops (%d suppressed)",
        alert.pk, len(events), sum(event.suppressed for event in events),
    )  # fmt: skip
    return events
