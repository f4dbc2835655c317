"""The bridge's side of alerts: publish each event waiting for MQTT, then mark it sent.

The bridge's account is the cloud's one MQTT publisher (docs/architecture.md, "Transport"): a
broker binds each account to one client id, so no other process can log in as it, and the
database is the outbox, as for desired states (`cloud.deploy.publisher`). Every bridge pass
(about once a second) takes the oldest pending events, publishes them at QoS 1 on
`<prefix>/alerts/<alert id>` (`cloud.alerts.topics`) all at once, and marks sent those the
broker acknowledged; the rest stay pending for the next pass. An event the broker has not
acknowledged within `mqtt_expiry_s` of its match (the broker refuses the topic, or it was down
all that time) is recorded as failed with the reason, never dropped silently.

The rows are taken with `SELECT ... FOR UPDATE SKIP LOCKED`, so bridges that run side by side
(a share of the sites each, or two during a rolling update) publish disjoint events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Final

from django.db import transaction
from django.utils import timezone

from cloud.alerts.models import AlertEvent, Delivery
from cloud.alerts.notifications import alert_settings, body
from cloud.alerts.topics import alert_topic

logger = logging.getLogger(__name__)

Publish = Callable[[Sequence[tuple[str, bytes, bool]]], list[bool]]
"""Publishes messages (topic, payload, retained) at QoS 1; returns, for each, whether the broker
acknowledged it (`cloud.ingest.bridge.MqttBridge.publish_many`)."""

_BATCH: Final = 200


class AlertPublisher:
    """Publishes pending alert events through `publish`; see the module docstring."""

    def __init__(self, publish: Publish, topic_prefix: str) -> None:
        self._publish = publish
        self._prefix = topic_prefix

    def publish_pending(self) -> int:
        """Publish a batch of pending events; return how many the broker acknowledged.
        Database errors propagate to the caller, the bridge's loop."""
        now = timezone.now()
        cutoff = now - timedelta(seconds=alert_settings().mqtt_expiry_s)
        expired = AlertEvent.objects.filter(mqtt=Delivery.PENDING, matched_at__lt=cutoff).update(
            mqtt=Delivery.FAILED,
            mqtt_error="not acknowledged by the broker in time",
            mqtt_at=now,
        )
        if expired:
            logger.warning("%d alert events not acknowledged by the broker in time", expired)
        with transaction.atomic():
            events = list(
                AlertEvent.objects.filter(mqtt=Delivery.PENDING)
                .select_for_update(skip_locked=True, of=("self",))
                .select_related("alert__label", "detection__camera__device")
                .order_by("matched_at", "id")[:_BATCH]
            )
            if not events:
                return 0
            messages = [(alert_topic(self._prefix, e.alert_id), body(e), False) for e in events]
            acknowledged = self._publish(messages)
            sent = [event.pk for event, acked in zip(events, acknowledged, strict=True) if acked]
            AlertEvent.objects.filter(pk__in=sent).update(
                mqtt=Delivery.SENT, mqtt_at=timezone.now()
            )
        if len(sent) < len(events):
            logger.info("%d alert events wait for the broker", len(events) - len(sent))
        return len(sent)
