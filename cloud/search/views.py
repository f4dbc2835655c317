"""Server-rendered search pages: the detection grid and the similar-objects list.

Both need a login (`LoginRequiredMiddleware`) and show only the cameras the user may see
(`cloud.access.scope`): the camera choices, the grid's query, the similar page's query crop
and its vector search all go through the user's scope. A store that cannot be reached gives a 503
page that says which one, never a stack trace; other store errors are bugs and stay 500s.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Final, cast

from django import forms
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from cloud import backends
from cloud.access import scope
from cloud.detections.models import Detection
from cloud.fleet.models import Camera
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.search.criteria import SearchCriteria
from cloud.search.forms import SearchForm
from cloud.search.results import crop_cards, similar_cards

logger = logging.getLogger(__name__)

PAGE_SIZE: Final = 48
"""Crops per grid page (divides evenly into 2, 3, 4, 6 and 8 columns)."""
SIMILAR_K: Final = 24
"""How many similar objects the similar page lists."""


@require_safe
def detections(request: HttpRequest) -> HttpResponse:
    """A grid of crops, newest first, filtered by camera, class and time range."""
    form = _scoped_form(request)
    context: dict[str, object] = {"form": form, "filter_query": _filter_query(request)}
    if not form.is_valid():
        # Errors beside no results, rather than silently unfiltered ones.
        return render(request, "search/detections.html", context)
    criteria = _scoped_criteria(request, form)
    page = Paginator(criteria.detections(), PAGE_SIZE).get_page(request.GET.get("page"))
    try:
        cards = crop_cards(page, backends.object_store())
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    context.update(page=page, cards=cards, filtered=not criteria.is_empty)
    return render(request, "search/detections.html", context)


@require_safe
def similar(request: HttpRequest, detection_id: str) -> HttpResponse:
    """The crops most similar to one detection's, best first, under the same filters."""
    # A detection the user may not see is "not found", like one that does not exist.
    detection = get_object_or_404(
        scope.visible_detections(request.user, Detection.objects.select_related("camera")),
        pk=detection_id,
    )
    form = _scoped_form(request)
    context: dict[str, object] = {
        "form": form,
        "filter_query": _filter_query(request),
        "detection": detection,
    }
    try:
        objects = backends.object_store()
        context["query_card"] = crop_cards([detection], objects)[0]
        if form.is_valid():
            context["cards"] = similar_cards(
                detection,
                _scoped_criteria(request, form),
                vectors=backends.vector_store(),
                objects=objects,
                k=SIMILAR_K,
            )
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    except VectorStoreUnavailable as err:
        return _unavailable(request, "vector store", err)
    return render(request, "search/similar.html", context)


def _scoped_form(request: HttpRequest) -> SearchForm:
    """The filter form, offering only the cameras the user may see."""
    form = SearchForm(request.GET)
    camera = cast("forms.ModelMultipleChoiceField[Camera]", form.fields["camera"])
    camera.queryset = scope.visible_cameras(request.user)
    return form


def _scoped_criteria(request: HttpRequest, form: SearchForm) -> SearchCriteria:
    """The form's criteria, narrowed to the user's cameras (the vector search's too)."""
    criteria = form.criteria()
    return dataclasses.replace(criteria, camera_ids=scope.narrow(criteria.camera_ids, request.user))


def _filter_query(request: HttpRequest) -> str:
    """The filters of this request as a query string, for links that keep them (no page)."""
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _unavailable(request: HttpRequest, store: str, err: Exception) -> HttpResponse:
    # Logged here, where it is handled; the page names the store but not the error, which may
    # hold internal addresses.
    logger.warning("search page %s: %s unavailable: %s", request.path, store, err)
    return render(request, "search/unavailable.html", {"store": store}, status=503)
