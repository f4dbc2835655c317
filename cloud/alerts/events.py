"""Recording matches as events, once per (alert, crop), with the alert's rate limit.

`record` runs with the alerts' rows locked, so two workers matching the same crop (a retried
batch beside its first run) or two crops for one alert at once are serialised: the first
records the event and the second finds it. All the alerts a batch matched are recorded in one
transaction, a handful of queries whatever their number.

Within the alert's `min_interval_s` of its last notification a match is recorded as
suppressed (nothing sent), and the next notification says how many were suppressed before it.
Delivery is queued after the commit: the webhook as a Celery task
(`cloud.alerts.tasks.deliver_webhook`), MQTT by marking the event pending for the bridge
(`cloud.alerts.publisher`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
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


def record(found: Mapping[Alert, Sequence[Match]]) -> list[AlertEvent]:
    """Record the matches each alert has no event for yet, all in one transaction; return the
    new events."""
    ids = sorted({match.detection.id for matches in found.values() for match in matches})
    with transaction.atomic():
        # Locked in id order, so two workers recording for the same alerts never deadlock.
        locked = {
            alert.pk: alert
            for alert in Alert.objects.select_for_update()
            .filter(pk__in=sorted(alert.pk for alert in found))
            .order_by("pk")
        }
        done = set(
            AlertEvent.objects.filter(alert_id__in=list(locked), detection_id__in=ids).values_list(
                "alert_id", "detection_id"
            )
        )
        events: list[AlertEvent] = []
        for alert, matches in found.items():
            current = locked.get(alert.pk)
            if current is None:
                continue  # deleted meanwhile
            for match in matches:
                if (current.pk, match.detection.id) not in done:
                    done.add((current.pk, match.detection.id))
                    events.append(_event(current, match))
        if not events:
            return []
        AlertEvent.objects.bulk_create(events)
        Alert.objects.bulk_update(locked.values(), ["last_notified_at", "suppressed_count"])
        webhooks = [event.pk for event in events if event.webhook == Delivery.PENDING]

        def queue_webhooks() -> None:
            for pk in webhooks:
                deliver_webhook.delay(pk)

        # After the commit: the task must find the event, and a rolled-back one sends nothing.
        transaction.on_commit(queue_webhooks)
    logger.info(
        "%d alerts matched %d new crops (%d suppressed)",
        len(found), len(events), sum(event.suppressed for event in events),
    )  # fmt: skip
    return events


def _event(alert: Alert, match: Match) -> AlertEvent:
    """The event of a new match, notified or suppressed by `alert`'s rate limit (which it
    updates)."""
    now = timezone.now()
    event = AlertEvent(
        alert=alert,
        detection=match.detection,
        track_id=match.detection.track_id,
        score=match.score,
        matched_at=now,
    )
    if may_notify(alert.last_notified_at, alert.min_interval_s, now):
        event.suppressed_before = alert.suppressed_count
        event.webhook = Delivery.PENDING if alert.webhook_url else Delivery.NONE
        event.mqtt = Delivery.PENDING if alert.mqtt else Delivery.NONE
        alert.last_notified_at = now
        alert.suppressed_count = 0
    else:
        event.suppressed = True
        alert.suppressed_count += 1
    return event
