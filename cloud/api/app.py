"""The API object, its routers and its URL patterns (mounted at ``/api/v1/`` by cloud.urls)."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path
from ninja import NinjaAPI, Router
from ninja.throttling import UserRateThrottle

from cloud.api import detections, devices, errors, tokens
from cloud.api.auth import AUTH

ROUTERS: dict[str, Router] = {
    "/detections": detections.router,
    "/devices": devices.router,
    "/tokens": tokens.router,
}
"""Each router by its path under /api/v1/; add a feature's router here."""

if not re.fullmatch(r"\d+/(s|sec|m|min|h|hour|d|day)", settings.API_RATE):
    raise ImproperlyConfigured(
        f"SIGHTLINE_CLOUD_API_RATE={settings.API_RATE!r}: write calls per period, e.g. 30/s, 600/m"
    )

api = NinjaAPI(
    title="Sightline API",
    version="1",
    description=(
        "Search what the cameras saw, and the fleet. Authenticate with an API token "
        "(`Authorization: Bearer slt_...`, made on the API tokens page) or a browser session. "
        "Every answer holds only the cameras the caller may see. Errors are JSON "
        '`{"detail": ..., "errors": {field: [messages]}}`.'
    ),
    urls_namespace="api",
    auth=AUTH,
    throttle=[UserRateThrottle(settings.API_RATE)],
)
errors.install(api)
for prefix, router in ROUTERS.items():
    api.add_router(prefix, router)


@login_not_required
def unknown_endpoint(request: HttpRequest, rest: str) -> JsonResponse:
    """A path under /api/v1/ that no endpoint has: JSON, as every API answer."""
    return JsonResponse({"detail": f"no API endpoint /api/v1/{rest}"}, status=404)


def urlpatterns() -> list[URLPattern | URLResolver]:
    """The API's URL patterns, then a JSON 404 for every other path under it."""
    patterns, _, _ = api.urls
    for pattern in patterns:
        # The API answers 401 itself (token or session): the site's login redirect is for pages.
        if isinstance(pattern, URLPattern):
            login_not_required(pattern.callback)
    return [*patterns, path("<path:rest>", unknown_endpoint)]
