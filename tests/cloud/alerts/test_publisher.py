"""The bridge's pass over events waiting for MQTT, the topic, and the bridge's broker role."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from cloud.alerts.events import Match, record
from cloud.alerts.models import Alert, AlertEvent, Delivery
from cloud.alerts.publisher import AlertPublisher
from cloud.alerts.topics import alert_topic
from cloud.fleet.broker import bridge_acls
from tests.cloud.alerts.conftest import AddCrop


def test_alert_topics_sit_beside_the_device_topics_and_the_bridge_may_write_them() -> None:
    assert alert_topic("acme/sightline", 7) == "acme/sightline/alerts/7"
    assert {"acltype": "publishClientSend", "topic": "acme/sightline/alerts/+", "allow": True} in (
        bridge_acls("acme/sightline")
    )
    with pytest.raises(ValueError, match="must not contain"):
        alert_topic("bad/+", 7)


@pytest.mark.django_db
def test_acknowledged_events_are_marked_sent_and_the_rest_wait_or_expire(
    owner: User, add_crop: AddCrop, queued: list[int], settings: Any
) -> None:
    alert = Alert.objects.create(
        owner=owner, name="all", kind="search", mqtt=True, min_interval_s=0
    )
    first, second, old = record({alert: [Match(add_crop(), None) for _ in range(3)]})
    AlertEvent.objects.filter(pk=old.pk).update(
        matched_at=old.matched_at - timedelta(seconds=settings.ALERTS["mqtt_expiry_s"] + 1)
    )
    published: list[tuple[str, bytes, bool]] = []

    def publish(messages: Sequence[tuple[str, bytes, bool]]) -> list[bool]:
        published.extend(messages)
        return [True, False][: len(messages)]

    assert AlertPublisher(publish, "sightline").publish_pending() == 1

    states = dict(AlertEvent.objects.values_list("pk", "mqtt"))
    assert states == {first.pk: Delivery.SENT, second.pk: Delivery.PENDING, old.pk: Delivery.FAILED}
    topic, payload, retained = published[0]
    assert (topic, retained) == (f"sightline/alerts/{alert.pk}", False)
    assert json.loads(payload)["event"] == first.pk

    published.clear()
    assert AlertPublisher(lambda m: [True] * len(m), "sightline").publish_pending() == 1
    assert AlertEvent.objects.get(pk=second.pk).mqtt == Delivery.SENT
    assert AlertPublisher(publish, "sightline").publish_pending() == 0
