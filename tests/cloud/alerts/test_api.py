"""The alerts API: the pages' rules as JSON."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from cloud.access import tokens
from cloud.access.models import Role
from cloud.alerts.events import Match, record
from cloud.alerts.models import Alert
from cloud.labels.models import Label
from tests.cloud.alerts.conftest import AddCrop
from tests.users import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> None:
    cache.clear()


def _bearer(user: User) -> dict[str, str]:
    _, token = tokens.create_token(user.pk, "test")
    return {"Authorization": f"Bearer {token}"}


def test_an_alert_is_made_read_listed_turned_off_and_deleted(
    client: Client, owner: User, add_crop: AddCrop, queued: list[int]
) -> None:
    headers = _bearer(owner)
    van = Label.objects.create(name="van")
    made = client.post(
        "/api/v1/alerts",
        {"name": "vans", "label_id": van.pk, "threshold": 0.8, "mqtt": True},
        content_type="application/json",
        headers=headers,
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["kind"], body["label_id"], body["owner"]) == ("label", van.pk, "ana")
    assert len(body["secret"]) == 64
    alert = Alert.objects.get(pk=body["id"])
    crop = add_crop()
    record({alert: [Match(crop, 0.9)]})

    assert [a["id"] for a in client.get("/api/v1/alerts", headers=headers).json()] == [alert.pk]
    (event,) = client.get(f"/api/v1/alerts/{alert.pk}/events", headers=headers).json()
    assert (event["detection_id"], event["track_id"], event["mqtt"]) == (
        crop.id, crop.track_id, "pending",
    )  # fmt: skip
    off = client.patch(
        f"/api/v1/alerts/{alert.pk}", {"enabled": False}, content_type="application/json",
        headers=headers,
    )  # fmt: skip
    assert off.json()["enabled"] is False
    assert client.delete(f"/api/v1/alerts/{alert.pk}", headers=headers).status_code == 204
    assert not Alert.objects.exists()


def test_refusals_are_json(client: Client, owner: User) -> None:
    viewer = _bearer(make_user("vi", Role.VIEWER))
    headers = _bearer(owner)
    post = {"content_type": "application/json"}

    denied = client.post("/api/v1/alerts", {"name": "x", "filters": {"label": ["person"]}},
                         headers=viewer, **post)  # fmt: skip
    bad = client.post("/api/v1/alerts", {"name": "x", "label_id": 12345,
                      "webhook_url": "gopher://x"}, headers=headers, **post)  # fmt: skip
    nothing = client.post("/api/v1/alerts", {"name": "x"}, headers=headers, **post)
    gone = client.post("/api/v1/alerts", {"name": "x", "example": {"upload_id": "no", "index": 0}},
                       headers=headers, **post)  # fmt: skip

    assert denied.status_code == 403
    assert bad.status_code == 400
    assert "label: There is no label 12345" in bad.json()["detail"]
    assert "webhook_url" in bad.json()["detail"]
    assert nothing.status_code == 400
    assert gone.status_code == 404
    assert not Alert.objects.exists()


def test_another_users_alert_is_not_found(client: Client, owner: User) -> None:
    alert = Alert.objects.create(owner=owner, name="mine", kind="search", filters={"label": ["x"]})
    other = _bearer(make_user("ot", Role.LABELER))
    assert client.get(f"/api/v1/alerts/{alert.pk}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/alerts/{alert.pk}", headers=other).status_code == 404
    admin = _bearer(make_user("ad", Role.ADMIN))
    assert client.get(f"/api/v1/alerts/{alert.pk}", headers=admin).json()["secret"] is None
