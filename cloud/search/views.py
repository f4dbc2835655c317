"""Server-rendered search pages: the track grid, the similar-objects list and the track page.

All need a login (`LoginRequiredMiddleware`) and show only the cameras the user may see
(`visible_cameras`, the one place scope enters these pages). A store that cannot be reached
gives a 503 page that says which one, never a stack trace; other store errors are bugs and stay
500s. An unknown or malformed id, or one on a camera the user may not see, is a 404 page that
says so (the same page either way, so ids of hidden cameras are not confirmed).
"""

from __future__ import annotations

import logging
from typing import Final, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cloud import backends
from cloud.access import scope
from cloud.detections.models import Detection, Track
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.search.criteria import Order, SearchCriteria
from cloud.search.forms import SearchForm
from cloud.search.links import link_context
from cloud.search.results import (
    CropCard,
    crop_cards,
    page_of,
    similar_cards,
    track_cards,
    with_faces,
    with_user_labels,
)
from cloud.search.track_page import track_context
from cloud.validators import validate_detection_id, validate_uuid

logger = logging.getLogger(__name__)
Shown = TypeVar("Shown", Detection, Track)

PAGE_SIZE: Final = 48
"""Tracks per grid page (divides evenly into 2, 3, 4, 6 and 8 columns)."""
MAX_PAGE: Final = 200
"""The last page offered: deeper pages cost the database a long skip; filters narrow faster."""
SIMILAR_K: Final = 24
"""How many similar objects the similar page lists."""
# What the similar page and the track page show of the detection or track they are about
# (querysets are lazy: each request filters its own copy).
_DETECTIONS: Final = Detection.objects.select_related("camera", "track__camera__device")
_TRACKS: Final = Track.objects.select_related("camera__device__site", "best_detection")


def visible_cameras(request: HttpRequest) -> frozenset[int] | None:
    """The `Camera` keys the request's user may see; None: every camera.

    The one place the search pages learn the user's scope (`cloud.access.scope`): every query
    of these pages goes through `SearchCriteria.visible_camera_ids`, which this sets.
    """
    return scope.visible_camera_ids(request.user)


@require_safe
def detections(request: HttpRequest) -> HttpResponse:
    """A grid of sightings (tracks), newest first by default, each by its best crop."""
    form = SearchForm(request.GET, visible_camera_ids=visible_cameras(request))
    context: dict[str, object] = {"form": form, **link_context(request, form)}
    if not form.is_valid():
        # Errors beside no results, rather than silently unfiltered ones.
        return render(request, "search/detections.html", context)
    criteria = form.criteria()
    number = _page_number(request)
    order = form.order(Order.NEWEST)
    page = page_of(criteria.tracks(order), number, PAGE_SIZE)
    try:
        cards = with_user_labels(with_faces(track_cards(page.tracks, backends.object_store())))
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    context.update(
        page=page,
        cards=cards,
        filtered=not criteria.is_empty,
        order=order.value,
        last_page=number >= MAX_PAGE,
    )
    return render(request, "search/detections.html", context)


@require_safe
def similar(request: HttpRequest, detection_id: str) -> HttpResponse:
    """The tracks most similar to one detection's, best first, under the same filters."""
    visible = visible_cameras(request)
    detection = _visible(_DETECTIONS, detection_id, validate_detection_id, visible)
    if detection is None:
        return _not_found(request, "detection")
    form = SearchForm(request.GET, visible_camera_ids=visible, by_score=True)
    context: dict[str, object] = {
        "form": form,
        **link_context(request, form),
        "detection": detection,
    }
    try:
        objects = backends.object_store()
        context["query_card"] = with_faces(crop_cards(detection.track, [detection], objects))[0]
        if form.is_valid():
            cards = similar_by_form(detection, form, k=SIMILAR_K)
            context["cards"] = None if cards is None else with_user_labels(with_faces(cards))
            context["min_score_set"] = form.cleaned_data.get("min_score") is not None
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    except VectorStoreUnavailable as err:
        return _unavailable(request, "vector store", err)
    return render(request, "search/similar.html", context)


@require_safe
def track(request: HttpRequest, track_id: str) -> HttpResponse:
    """One sighting: its crops, its context frame with the box and path, its time span and
    the sightings of similar objects on other cameras on a timeline."""
    visible = visible_cameras(request)
    found = _visible(_TRACKS, track_id, validate_uuid, visible)
    if found is None:
        return _not_found(request, "track")
    try:
        context = track_context(
            found,
            SearchCriteria(visible_camera_ids=visible),
            objects=backends.object_store(),
            vectors=backends.vector_store,
        )
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    context.update(link_context(request))
    return render(request, "search/track.html", context)


def similar_by_form(detection: Detection, form: SearchForm, *, k: int) -> list[CropCard] | None:
    """`similar_cards` of `detection` under a valid similar-search `form` (its filters, order
    and minimum similarity) on the process's stores: what the similar page and the labelling
    page (`cloud.labels.views`) list. None while the crop has no vector."""
    return similar_cards(
        detection,
        form.criteria(),
        vectors=backends.vector_store(),
        objects=backends.object_store(),
        k=k,
        order=form.order(Order.SCORE),
        min_score=form.min_score(),
    )


def visible_detection(request: HttpRequest, detection_id: str) -> Detection | None:
    """The detection of `detection_id` if the user may see it; None when not, or no such id."""
    return _visible(_DETECTIONS, detection_id, validate_detection_id, visible_cameras(request))


def visible_track(request: HttpRequest, track_id: str) -> Track | None:
    """The track of `track_id` if the user may see it; None when not, or no such id."""
    return _visible(_TRACKS, track_id, validate_uuid, visible_cameras(request))


def _visible(
    rows: QuerySet[Shown], pk: str, validator: RegexValidator, visible: frozenset[int] | None
) -> Shown | None:
    """The row of `pk` if its camera is `visible`; None when it is not, or none has that id."""
    # Checked before the lookup: the database may refuse what no id can be (a NUL character).
    if not _valid(validator, pk):
        return None
    found = rows.filter(pk=pk).first()
    if found is None or (visible is not None and found.camera_id not in visible):
        return None
    return found


def _valid(validator: RegexValidator, value: str) -> bool:
    try:
        validator(value)
    except ValidationError:
        return False
    return True


def _page_number(request: HttpRequest) -> int:
    """The requested page, from 1 to `MAX_PAGE`; 1 for anything that is not a number."""
    try:
        number = int(request.GET.get("page", "1"))
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def _not_found(request: HttpRequest, kind: str) -> HttpResponse:
    return render(request, "search/not_found.html", {"kind": kind}, status=404)


def _unavailable(request: HttpRequest, store: str, err: Exception) -> HttpResponse:
    # Logged here, where it is handled; the page names the store but not the error, which may
    # hold internal addresses.
    logger.warning("search page %s: %s unavailable: %s", request.path, store, err)
    return render(request, "search/unavailable.html", {"store": store}, status=503)
