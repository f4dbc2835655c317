"""The device page and its charts' data, behind the site's login like every page.

`device` is a minimal device page (status, latest heartbeat, alerts, charts) until the fleet
registry's own page takes the charts and alerts through their template tags
(`cloud.monitoring.templatetags.monitoring`). `series` answers the charts' requests:
`/devices/<id>/series.json?metric=fps|latency|drops&since=<ISO 8601 time, or 30m, 6h, 7d>`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_safe

from cloud.access import scope
from cloud.fleet.models import Device
from cloud.monitoring.series import METRICS, device_series

DEFAULT_SINCE = "1h"
MAX_RANGE = timedelta(days=366)
_RELATIVE = re.compile(r"\A(\d{1,6})([smhd])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class BadQuery(ValueError):
    """A query parameter the endpoint cannot use; the message says which and why."""


def parse_since(value: str, now: datetime) -> datetime:
    """`since` as an aware time: an ISO 8601 time with its zone, or a span before `now`
    ("90s", "30m", "6h", "7d"); at most `MAX_RANGE` back. Raises `BadQuery`."""
    if match := _RELATIVE.match(value):
        span = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        since = now - min(span, MAX_RANGE)
    else:
        try:
            since = datetime.fromisoformat(value)
        except ValueError as err:
            raise BadQuery(
                f"since: {value[:40]!r} is neither an ISO 8601 time nor a span like 30m, 6h, 7d"
            ) from err
        if timezone.is_naive(since):
            raise BadQuery("since: give the time zone (for example 2026-11-27T09:00:00Z)")
    if since > now:
        raise BadQuery("since: must not lie in the future")
    return max(since, now - MAX_RANGE)


@require_safe
def series(request: HttpRequest, device_id: str) -> JsonResponse:
    """One metric of one device over time, as JSON (`cloud.monitoring.series`), for a user
    who may see the device."""
    device = get_object_or_404(
        scope.visible_devices(request.user, Device.objects.all()), pk=device_id
    )
    metric = request.GET.get("metric", "")
    if metric not in METRICS:
        choices = ", ".join(METRICS)
        return JsonResponse({"error": f"metric: one of {choices}"}, status=400)
    try:
        since = parse_since(request.GET.get("since", DEFAULT_SINCE), timezone.now())
    except BadQuery as err:
        return JsonResponse({"error": str(err)}, status=400)
    return JsonResponse(device_series(device.pk, metric, since))
