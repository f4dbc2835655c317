"""The webhook task: sent once, retried while the receiver fails, failed for good at the end."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.alerts.models import AlertEvent, Delivery
from cloud.alerts.tasks import RETRY_BACKOFF, deliver_webhook, retry_delay
from tests.cloud.alerts.test_notifications import Receiver

pytestmark = pytest.mark.django_db


def test_a_delivered_event_is_marked_sent_and_never_posted_again(
    event: AlertEvent, receiver: Receiver
) -> None:
    assert deliver_webhook.apply(args=[event.pk]).get() == "sent"
    assert deliver_webhook.apply(args=[event.pk]).get() == "skipped"

    event.refresh_from_db()
    assert (event.webhook, event.webhook_attempts, event.webhook_error) == (Delivery.SENT, 1, "")
    assert len(receiver.received) == 1


def test_a_failing_receiver_is_retried_then_the_event_recorded_as_failed(
    event: AlertEvent, receiver: Receiver, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.ALERTS = {**settings.ALERTS, "webhook_attempts": 3}
    receiver.status = 503

    # Eagerly applied, each retry runs at once in the same call.
    deliver_webhook.apply(args=[event.pk])

    event.refresh_from_db()
    assert (event.webhook, event.webhook_attempts) == (Delivery.FAILED, 3)
    assert event.webhook_error == "HTTP 503 Service Unavailable"
    assert len(receiver.received) == 3


def test_a_refused_event_fails_at_once(event: AlertEvent, receiver: Receiver) -> None:
    receiver.status = 410
    assert deliver_webhook.apply(args=[event.pk]).get() == "failed"
    event.refresh_from_db()
    assert (event.webhook, event.webhook_attempts) == (Delivery.FAILED, 1)
    assert len(receiver.received) == 1


def test_retries_back_off_exponentially_up_to_the_cap() -> None:
    waits = [retry_delay(attempts) for attempts in (1, 2, 3, 10)]
    assert RETRY_BACKOFF.initial_s / 2 <= waits[0] <= RETRY_BACKOFF.initial_s
    assert 1.0 <= waits[1] <= 2.0
    assert 2.0 <= waits[2] <= 4.0
    assert RETRY_BACKOFF.max_s / 2 <= waits[3] <= RETRY_BACKOFF.max_s
