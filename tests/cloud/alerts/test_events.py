"""The rate limit: one notification per minimum interval, the rest recorded and counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from cloud.alerts.events import Match, may_notify, record
from cloud.alerts.models import Alert, AlertEvent, Delivery
from tests.cloud.alerts.conftest import AddCrop

NOON = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last", "allowed"),
    [
        (None, True),
        (NOON - timedelta(seconds=59.9), False),
        (NOON - timedelta(seconds=60), True),
        (NOON + timedelta(seconds=5), False),  # a clock that stepped back waits it out
    ],
)
def test_an_alert_may_notify_again_once_its_minimum_interval_passed(
    last: datetime | None, allowed: bool
) -> None:
    assert may_notify(last, 60, NOON) is allowed


@pytest.mark.django_db
def test_matches_within_the_interval_are_suppressed_and_counted_in_the_next_notification(
    owner: User, add_crop: AddCrop, queued: list[int], django_capture_on_commit_callbacks: object
) -> None:
    alert = Alert.objects.create(
        owner=owner, name="all", kind="search", webhook_url="http://hook/", mqtt=True,
        min_interval_s=60,
    )  # fmt: skip
    first, second, third, later = (add_crop() for _ in range(4))

    events = record({alert: [Match(first, None), Match(second, 0.5), Match(third, None)]})
    assert [e.suppressed for e in events] == [False, True, True]
    assert [(e.webhook, e.mqtt) for e in events] == [
        (Delivery.PENDING, Delivery.PENDING),
        ("", ""),
        ("", ""),
    ]
    alert.refresh_from_db()
    assert alert.suppressed_count == 2
    assert alert.last_notified_at is not None

    Alert.objects.filter(pk=alert.pk).update(
        last_notified_at=alert.last_notified_at - timedelta(seconds=61)
    )
    (next_one,) = record({alert: [Match(later, None), Match(first, None)]})  # `first` is known

    assert next_one.detection_id == later.id
    assert not next_one.suppressed
    assert next_one.suppressed_before == 2
    assert AlertEvent.objects.count() == 4
    alert.refresh_from_db()
    assert alert.suppressed_count == 0
