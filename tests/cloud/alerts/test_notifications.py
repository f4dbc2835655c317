"""The notification body, its signature, and webhook POSTs to a real local HTTP server."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.alerts.models import AlertEvent
from cloud.alerts.notifications import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryError,
    payload,
    post,
    signature,
)
from tests.cloud.alerts.conftest import Receiver


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_with_the_alerts_secret() -> None:
    # A fixed vector, so that a receiver written from the docs agrees with the sender.
    assert signature("s3cret", 1764244800, b'{"event":1}') == (
        "sha256=97f95ce590fa3d385d6996432de581cb194022386f5404ac6d797f734ab76957"
    )


@pytest.mark.django_db
def test_the_body_names_the_match_and_links_to_the_crop_and_track_pages(
    event: AlertEvent, settings: Any
) -> None:
    settings.ALERTS = {**settings.ALERTS, "public_url": "https://sightline.example"}
    body = payload(event)
    detection = event.detection
    assert body["event"] == event.pk
    assert body["alert"] == {"id": event.alert_id, "name": "vans"}
    assert (body["detection"], body["track"]) == (detection.id, detection.track_id)
    assert body["camera"]["device"] == "gate-01"
    assert body["camera"]["edge_id"] == "lobby"
    assert (body["class"], body["label"], body["score"]) == ("person", "van", 0.97)
    assert body["time"] == detection.ts.isoformat()
    assert body["links"] == {
        "crop": f"https://sightline.example/detections/{detection.id}/similar/",
        "track": f"https://sightline.example/tracks/{detection.track_id}/",
    }


@pytest.mark.django_db
def test_a_webhook_gets_the_signed_body(event: AlertEvent, receiver: Receiver) -> None:
    assert post(event, timeout_s=5) == 200

    ((headers, data),) = receiver.received
    assert json.loads(data)["event"] == event.pk
    assert headers[EVENT_HEADER] == str(event.pk)
    assert headers["Content-Type"] == "application/json"
    expected = signature(event.alert.secret, int(headers[TIMESTAMP_HEADER]), data)
    assert headers[SIGNATURE_HEADER] == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "permanent"), [(500, False), (503, False), (429, False), (404, True), (400, True)]
)
def test_a_refusal_is_permanent_and_a_server_error_is_not(
    event: AlertEvent, receiver: Receiver, status: int, permanent: bool
) -> None:
    receiver.status = status
    with pytest.raises(DeliveryError) as raised:
        post(event, timeout_s=5)
    assert raised.value.permanent is permanent


@pytest.mark.django_db
def test_a_redirect_is_not_followed(event: AlertEvent, receiver: Receiver) -> None:
    receiver.status, receiver.location = 307, receiver.url + "/elsewhere"
    with pytest.raises(DeliveryError) as raised:
        post(event, timeout_s=5)
    assert raised.value.permanent
    assert len(receiver.received) == 1


@pytest.mark.django_db
def test_an_unreachable_webhook_is_worth_retrying(event: AlertEvent) -> None:
    event.alert.webhook_url = "http://127.0.0.1:9/hook"  # discard port: nothing listens
    with pytest.raises(DeliveryError) as raised:
        post(event, timeout_s=2)
    assert not raised.value.permanent
