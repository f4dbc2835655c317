"""The API object, its routers and its URL patterns (mounted at ``/api/v1/`` by cloud.urls)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, path, re_path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from ninja import NinjaAPI, Router
from ninja.throttling import UserRateThrottle

from cloud.api import (
    alerts,
    detections,
    devices,
    errors,
    example,
    labels,
    text,
    tokens,
    tracks,
)
from cloud.api.auth import AUTH

ROUTERS: dict[str, Router] = {
    "/detections": detections.router,
    "/devices": devices.router,
    "/search/text": text.router,
    "/search": example.router,
    "/tracks": tracks.router,
    "/tokens": tokens.router,
    "/labels": labels.router,
    "/alerts": alerts.router,
}
"""Each router by its path under /api/v1/; add a feature's router here."""


class SettingsRateThrottle(UserRateThrottle):
    """Calls per user (per address before login) at ``settings.API_RATE``, read on each call
    so that a settings override applies at once."""

    def allow_request(self, request: HttpRequest) -> bool:
        self.num_requests, self.duration = self.parse_rate(settings.API_RATE)
        return super().allow_request(request)


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
    throttle=[SettingsRateThrottle(settings.API_RATE)],
)
errors.install(api)
for prefix, router in ROUTERS.items():
    api.add_router(prefix, router)


@login_not_required
@csrf_exempt
def unknown_endpoint(request: HttpRequest, rest: str) -> JsonResponse:
    """A path under /api/v1/ that no endpoint has: JSON, as every API answer (any method, so
    no CSRF check: it changes nothing)."""
    return JsonResponse({"detail": f"no API endpoint /api/v1/{rest}"}, status=404)


@login_not_required
@require_safe
def index(request: HttpRequest) -> JsonResponse:
    """/api/v1/ itself: where the schema and its page are."""
    return JsonResponse(
        {
            "openapi": request.build_absolute_uri(reverse("api:openapi-json")),
            "docs": request.build_absolute_uri(reverse("api:openapi-view")),
        }
    )


def urlpatterns() -> list[URLPattern | URLResolver]:
    """The index (in place of django-ninja's, a 404 page outside debug mode), the API's URL
    patterns, then a JSON 404 for every other path under /api/v1/."""
    patterns, _, _ = api.urls
    for pattern in patterns:
        # The API answers 401 itself (token or session): the site's login redirect is for pages.
        if isinstance(pattern, URLPattern):
            login_not_required(pattern.callback)
    return [path("", index), *patterns, re_path(r"^(?P<rest>.*)$", unknown_endpoint)]
