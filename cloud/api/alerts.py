"""Alerts: make one on a label or a saved search, list, read, turn on or off, delete; and an
alert's events. The rules are the pages' (`cloud.alerts.services`): labelers and above make
alerts, each user reaches their own, admins every alert."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from cloud.access.scope import visible_camera_ids
from cloud.alerts.models import DEFAULT_MIN_INTERVAL_S, DEFAULT_THRESHOLD, Alert, AlertEvent
from cloud.alerts.saved_search import FILTER_NAMES
from cloud.alerts.services import (
    AlertSpec,
    create_alert,
    delete_alert,
    get_alert,
    set_enabled,
    visible_alerts,
)
from cloud.api.example import uploaded_choice

router = Router(tags=["alerts"])


class ExampleIn(Schema):
    """An object of an image uploaded to ``POST /api/v1/search/image``."""

    upload_id: str
    index: int = Field(ge=0, description="Which object of the upload.")


class AlertIn(Schema):
    """A new alert: `label_id`, or a saved search (`text`, `example`, `filters`)."""

    name: str = Field(min_length=1, max_length=100)
    label_id: int | None = Field(default=None, description="Alert on this label's scores.")
    text: str = Field(default="", max_length=200, description="A text query, as text search.")
    example: ExampleIn | None = None
    filters: dict[str, list[str]] = Field(
        default_factory=dict,
        description=f"Search filters by name ({', '.join(FILTER_NAMES)}), as the search "
        "endpoints take them.",
    )
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=-1.0, le=1.0)
    webhook_url: str = Field(default="", max_length=500)
    mqtt: bool = False
    min_interval_s: int = Field(default=DEFAULT_MIN_INTERVAL_S, ge=0)


class AlertOut(Schema):
    """An alert as listed."""

    id: int
    name: str
    owner: str
    enabled: bool
    kind: str
    label_id: int | None
    text: str
    has_example: bool
    filters: dict[str, list[str]]
    threshold: float
    webhook_url: str
    mqtt: bool
    min_interval_s: int
    created_at: datetime
    last_notified_at: datetime | None


class AlertDetailOut(AlertOut):
    """An alert as its owner reads it, with the webhook's signing secret."""

    secret: str | None = Field(description="Only for the alert's owner.")


class EnabledIn(Schema):
    """Turn an alert on or off."""

    enabled: bool


class EventOut(Schema):
    """One crop that matched."""

    id: int
    detection_id: str
    track_id: str
    score: float | None
    matched_at: datetime
    suppressed: bool
    suppressed_before: int
    webhook: str
    webhook_error: str
    mqtt: str
    mqtt_error: str


class EventsQuery(Schema):
    """Which events."""

    limit: int = Field(default=100, ge=1, le=1000)


def _out(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "name": alert.name,
        "owner": alert.owner.get_username(),
        "enabled": alert.enabled,
        "kind": alert.kind,
        "label_id": alert.label_id,
        "text": alert.text,
        "has_example": alert.example_vector is not None,
        "filters": alert.filters,
        "threshold": alert.threshold,
        "webhook_url": alert.webhook_url,
        "mqtt": alert.mqtt,
        "min_interval_s": alert.min_interval_s,
        "created_at": alert.created_at,
        "last_notified_at": alert.last_notified_at,
    }


def _detail(request: HttpRequest, alert: Alert) -> dict[str, Any]:
    owner = alert.owner_id == request.user.pk
    return {**_out(alert), "secret": alert.secret if owner else None}


@router.get("", response=list[AlertOut])
def list_alerts(request: HttpRequest) -> list[dict[str, Any]]:
    """The caller's alerts (an admin's: every alert), newest first."""
    return [_out(alert) for alert in visible_alerts(request.user)]


@router.post("", response={201: AlertDetailOut})
def make_alert(request: HttpRequest, body: AlertIn) -> Status[dict[str, Any]]:
    """Make an alert (labeler role or above); 400 names what cannot be matched or sent."""
    example = None
    if body.example is not None:
        example = uploaded_choice(request, body.example.upload_id, body.example.index, face=False)
    spec = AlertSpec(
        name=body.name,
        label_id=body.label_id,
        text=body.text,
        example=None if example is None else example.vector,
        filters=body.filters,
        threshold=body.threshold,
        webhook_url=body.webhook_url,
        mqtt=body.mqtt,
        min_interval_s=body.min_interval_s,
    )
    return Status(201, _detail(request, create_alert(request.user, spec)))


@router.get("/{alert_id}", response=AlertDetailOut)
def read_alert(request: HttpRequest, alert_id: int) -> dict[str, Any]:
    """One alert."""
    return _detail(request, get_alert(request.user, alert_id))


@router.patch("/{alert_id}", response=AlertDetailOut)
def change_alert(request: HttpRequest, alert_id: int, body: EnabledIn) -> dict[str, Any]:
    """Turn an alert on or off."""
    return _detail(request, set_enabled(request.user, alert_id, body.enabled))


@router.delete("/{alert_id}", response={204: None})
def remove_alert(request: HttpRequest, alert_id: int) -> Status[None]:
    """Delete an alert and its events."""
    delete_alert(request.user, alert_id)
    return Status(204, None)


@router.get("/{alert_id}/events", response=list[EventOut])
def alert_events(
    request: HttpRequest, alert_id: int, query: Query[EventsQuery]
) -> list[AlertEvent]:
    """The alert's newest matches, on the cameras the caller may see."""
    alert = get_alert(request.user, alert_id)
    events = AlertEvent.objects.filter(alert=alert).order_by("-matched_at", "-id")
    visible = visible_camera_ids(request.user)
    if visible is not None:
        events = events.filter(detection__camera_id__in=sorted(visible))
    return list(events[: query.limit])
