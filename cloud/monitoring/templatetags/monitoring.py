"""Template tags that put health on any page: `{% load monitoring %}`, then

- `{% device_charts device %}`: the fps, latency and drops charts of a device, drawn in the
  browser by `monitoring/charts.js` from `/devices/<id>/series.json`;
- `{% device_alerts device %}`: its open alerts and the latest resolved ones;
- `{% fleet_alerts %}`: every open alert of the fleet, newest first, linking to each device.
"""

from __future__ import annotations

from typing import Any, Final

from django import template

from cloud.fleet.models import Device
from cloud.monitoring.models import Alert

register = template.Library()

RESOLVED_SHOWN: Final = 10
"""Resolved alerts a device page lists under its open ones."""
FLEET_SHOWN: Final = 200
"""Open alerts the fleet page lists (the rest are counted)."""

CHARTS: Final = (
    ("fps", "Detector rate", "frames per second per camera, against its configured rate"),
    ("latency", "Detector latency", "milliseconds per frame, p50 and p95 per camera"),
    ("drops", "Outbox and losses", "rows dropped and dead-lettered (counters), rows waiting"),
)


@register.inclusion_tag("monitoring/device_charts.html")
def device_charts(device: Device) -> dict[str, Any]:
    """The charts of `device`."""
    return {"device": device, "charts": CHARTS}


@register.inclusion_tag("monitoring/device_alerts.html")
def device_alerts(device: Device) -> dict[str, Any]:
    """The open and the latest resolved alerts of `device`."""
    alerts = Alert.objects.filter(device=device)
    return {
        "open": list(alerts.filter(resolved_at__isnull=True).order_by("-raised_at")),
        "resolved": list(alerts.filter(resolved_at__isnull=False)[:RESOLVED_SHOWN]),
    }


@register.inclusion_tag("monitoring/fleet_alerts.html")
def fleet_alerts() -> dict[str, Any]:
    """Every open alert of the fleet (at most `FLEET_SHOWN`, and how many in all); one query
    unless there are more."""
    open_alerts = Alert.objects.filter(resolved_at__isnull=True)
    shown = list(open_alerts.order_by("-raised_at")[: FLEET_SHOWN + 1])
    count = open_alerts.count() if len(shown) > FLEET_SHOWN else len(shown)
    return {"alerts": shown[:FLEET_SHOWN], "count": count}
