"""Liveness (``/healthz``) and readiness (``/readyz``) probes.

They are answered by a middleware placed first, not by views, so that they work before host
validation, HTTPS redirects and the login requirement: kubelet probes send the pod IP as Host
and carry no session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)


def healthz() -> JsonResponse:
    """The process is up and serving requests; restart it only when this fails."""
    return JsonResponse({"status": "ok"})


def readyz() -> JsonResponse:
    """The database answers a query; take the pod out of the load balancer while it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as err:
        logger.warning("not ready: database unreachable: %s", err)
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


PROBES: dict[str, Callable[[], JsonResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthCheckMiddleware:
    """Answers GET/HEAD on the probe paths and passes every other request on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe()
        return self.get_response(request)
