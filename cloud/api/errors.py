"""Every failure of an API call as JSON ``{"detail": ..., "errors": {field: [messages]}}``.

Never an HTML page: django-ninja's defaults answer 422 for bad input and let other exceptions
become Django's 500 page, so each case is mapped here once. A bug still answers 500, as JSON.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import ValidationError

from cloud.errors import InvalidInput, NotFound
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable
from models.errors import ModelError

logger = logging.getLogger(__name__)

# The request parts django-ninja names first in an error's location. By this API's convention
# an operation takes its query parameters as one schema argument named `query` and its body as
# one named `body`, which ninja names next; the field follows.
_PARTS = frozenset({"query", "path", "body", "header", "cookie", "form", "file"})


def field_errors(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Pydantic errors by field (``"since"``, ``"camera"``, ``"name"``), messages in order;
    a check of the whole request (since before until) under ``"request"``."""
    fields: dict[str, list[str]] = defaultdict(list)
    for error in errors:
        loc = list(error.get("loc", ()))
        if loc and loc[0] in _PARTS:
            source = loc.pop(0)
            if loc and loc[0] == source:
                loc.pop(0)
        # List positions are left out: "camera", not "camera.1".
        name = ".".join(str(part) for part in loc if isinstance(part, str)) or "request"
        fields[name].append(str(error.get("msg", "invalid")))
    return dict(fields)


def install(api: NinjaAPI) -> None:
    """Map every failure to its JSON answer on `api`."""

    def answer(request: HttpRequest, status: int, detail: str, **extra: Any) -> HttpResponse:
        return api.create_response(request, {"detail": detail, **extra}, status=status)

    @api.exception_handler(ValidationError)
    def invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return answer(request, 400, "invalid request", errors=field_errors(exc.errors))

    @api.exception_handler(InvalidInput)
    def invalid_input(request: HttpRequest, exc: InvalidInput) -> HttpResponse:
        return answer(request, 400, str(exc))

    @api.exception_handler(PermissionDenied)
    def forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return answer(request, 403, str(exc) or "forbidden")

    @api.exception_handler(Http404)
    def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return answer(request, 404, str(exc) or "not found")

    @api.exception_handler(NotFound)
    def unknown(request: HttpRequest, exc: NotFound) -> HttpResponse:
        return answer(request, 404, str(exc))

    @api.exception_handler(ObjectStoreUnavailable)
    def objects_down(request: HttpRequest, exc: ObjectStoreUnavailable) -> HttpResponse:
        return _unavailable(request, "object store", exc)

    @api.exception_handler(VectorStoreUnavailable)
    def vectors_down(request: HttpRequest, exc: VectorStoreUnavailable) -> HttpResponse:
        return _unavailable(request, "vector store", exc)

    @api.exception_handler(ModelError)
    def model_down(request: HttpRequest, exc: ModelError) -> HttpResponse:
        logger.error("API %s: model unavailable: %s", request.path, exc)
        response = answer(request, 503, "a model this search needs is unavailable")
        response["Retry-After"] = "60"
        return response

    @api.exception_handler(Exception)
    def bug(request: HttpRequest, exc: Exception) -> HttpResponse:
        # The request boundary: a bug is logged with its traceback, the client gets JSON.
        logger.error("API %s %s failed", request.method, request.path, exc_info=exc)
        return answer(request, 500, "internal error")

    def _unavailable(request: HttpRequest, store: str, exc: Exception) -> HttpResponse:
        # Logged here, where it is handled; the answer names the store but not the error,
        # which may hold internal addresses.
        logger.warning("API %s: %s unavailable: %s", request.path, store, exc)
        response = answer(request, 503, f"the {store} is unavailable; try again shortly")
        response["Retry-After"] = "10"
        return response
