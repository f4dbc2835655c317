"""What a notification says and how a webhook is sent: one JSON body for both channels.

The body (`body`) names the alert, the event, the crop, its track and camera, when it was
seen, what matched (the crop's class; the label and score), how many matches the rate limit
suppressed before it, and absolute links to the crop's page and the track page, built from
`ALERTS["public_url"]` (the address people reach the app at; paths alone when unset). The links
lead to pages behind the login, which check the reader's scope: a forwarded notification shows
nothing to someone who may not see it.

A webhook is a POST of the body with `Content-Type: application/json`, signed like Stripe's
and GitHub's: `X-Sightline-Signature: sha256=<hex>` is the HMAC-SHA256, keyed with the alert's
secret, of `<X-Sightline-Timestamp>.<body>`, so a receiver can check both who sent it and that
it is recent. Redirects are not followed (a signed body must not go where its owner did not
say). `post` raises `DeliveryError`, whose `permanent` alone decides whether a retry may help:
a refusal (4xx but 408 and 429) is permanent, an unreachable host, a timeout or a 5xx not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any, Final
from urllib.parse import urljoin

from django.conf import settings
from django.urls import reverse
from pydantic import BaseModel, ConfigDict, Field

from cloud.alerts.models import AlertEvent
from cloud.errors import CloudError

BODY_VERSION: Final = 1
"""Version of the JSON body; a change that breaks receivers gets the next one."""
SIGNATURE_HEADER: Final = "X-Sightline-Signature"
TIMESTAMP_HEADER: Final = "X-Sightline-Timestamp"
EVENT_HEADER: Final = "X-Sightline-Event"
_RETRIED_STATUSES: Final = frozenset({408, 429})


class AlertSettings(BaseModel):
    """Delivery of alerts (`settings.ALERTS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_url: str = Field(
        default="",
        description="The address people reach the web app at (https://sightline.example), "
        "for links in notifications; empty sends paths only.",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="How long one webhook POST may take."
    )
    webhook_attempts: int = Field(
        default=8,
        ge=1,
        description="POSTs of one event before it is recorded as failed (waits double from "
        "1 s up to 60 s in between, so about 4 minutes).",
    )
    mqtt_expiry_s: int = Field(
        default=3600,
        ge=1,
        description="How long an event waits for the broker before it is recorded as failed "
        "(news that late is no longer an alert).",
    )


def alert_settings() -> AlertSettings:
    """This process's `AlertSettings`."""
    return AlertSettings.model_validate(settings.ALERTS)


class DeliveryError(CloudError):
    """A notification not delivered; `permanent`: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def _link(path: str) -> str:
    base = alert_settings().public_url
    return urljoin(base, path) if base else path


def payload(event: AlertEvent) -> dict[str, Any]:
    """The notification of `event` as JSON-ready data (the event's alert, detection, camera
    and device, and the alert's label, joined or fetched)."""
    alert = event.alert
    detection = event.detection
    camera = detection.camera
    return {
        "version": BODY_VERSION,
        "event": event.pk,
        "alert": {"id": alert.pk, "name": alert.name},
        "detection": detection.pk,
        "track": event.track_id,
        "camera": {
            "id": camera.pk,
            "edge_id": camera.edge_id,
            "name": camera.name,
            "device": detection.device_id,
            "site": camera.device.site_id,
        },
        "time": detection.ts.isoformat(),
        "matched_at": event.matched_at.isoformat(),
        "class": detection.label,
        "label": alert.label.name if alert.label is not None else None,
        "score": event.score,
        "suppressed_before": event.suppressed_before,
        "links": {
            "crop": _link(reverse("search:similar", args=[detection.pk])),
            "track": _link(reverse("search:track", args=[event.track_id])),
        },
    }


def body(event: AlertEvent) -> bytes:
    """`payload` as the bytes both channels send."""
    return json.dumps(payload(event), sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, data: bytes) -> str:
    """The `SIGNATURE_HEADER` value of `data` sent at `timestamp` (Unix seconds)."""
    signed = f"{timestamp}.".encode() + data
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_opener: Final = urllib.request.build_opener(_NoRedirects)


def post(event: AlertEvent, *, timeout_s: float) -> int:
    """POST `event` to its alert's webhook; return the status; raise `DeliveryError`."""
    data = body(event)
    timestamp = int(time.time())
    request = urllib.request.Request(
        event.alert.webhook_url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Sightline-Alerts/1",
            EVENT_HEADER: str(event.pk),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(event.alert.secret, timestamp, data),
        },
    )
    try:
        with _opener.open(request, timeout=timeout_s) as response:
            status: int = response.status
    except urllib.error.HTTPError as err:
        err.close()  # the answer's connection; nothing in its body is read
        permanent = err.code < 500 and err.code not in _RETRIED_STATUSES
        raise DeliveryError(f"HTTP {err.code} {err.reason}", permanent=permanent) from err
    except (urllib.error.URLError, OSError) as err:
        # Unreachable, refused, reset or timed out: the receiver may be back later.
        reason = getattr(err, "reason", err)
        raise DeliveryError(f"cannot reach the webhook: {reason}", permanent=False) from err
    return status
