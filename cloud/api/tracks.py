"""Sightings (tracks): the grid, one track as its page shows it, and tracks similar to one.

The same search functions as the pages (`cloud.search.criteria`, `cloud.search.results`,
`cloud.search.track_page`), within the caller's cameras: a track of another camera is "not
found", and the similar sightings are searched among the caller's cameras only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, cast

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema

from cloud import backends
from cloud.access import scope
from cloud.api.cards import (
    Box,
    DetectionOut,
    TrackOut,
    TrackSummary,
    detection_out,
    summary,
    track_out,
)
from cloud.api.detections import SimilarQuery
from cloud.api.filters import GridQuery, criteria, grid
from cloud.detections.models import Detection, Track
from cloud.search import views
from cloud.search.criteria import SearchCriteria
from cloud.search.results import CropCard, track_similar_cards
from cloud.search.track_page import MAX_CROPS, OVERLAY_SCALE, Overlay, Timeline, track_context

router = Router(tags=["tracks"])


class TrackPage(Schema):
    """A page of sightings, each by its best crop."""

    items: list[TrackOut]
    page: int
    has_next: bool


class PathPoint(Schema):
    """Where the object was: its box centre as fractions of the frame, at a time."""

    ts: datetime
    x: float
    y: float


class ContextFrame(Schema):
    """The downscaled full frame the edge sent with one of the track's crops."""

    image_url: str = Field(description="Signed URL of the frame JPEG; it expires within an hour.")
    box: Box = Field(description="That crop's box in the frame.")


class TrackDetail(TrackSummary):
    """One sighting as its page shows it."""

    crops: list[DetectionOut] = Field(description="Its crops in time order (the first 48).")
    more_crops: bool = Field(description="Whether it has more crops than those listed.")
    best_crop_id: str | None
    context_frame: ContextFrame | None = Field(
        description="The best crop's frame (else another crop's); null when none came with one."
    )
    path: list[PathPoint] = Field(description="Where it went, oldest first (may be empty).")
    similar_elsewhere: list[TrackOut] | None = Field(
        description="Sightings of similar objects on the caller's other cameras, most similar "
        "first; null while the best crop has no vector yet or the vector store is unavailable "
        "(`similar_status` says which)."
    )
    similar_status: Literal["ok", "not_embedded", "unavailable"] = Field(
        description="not_embedded: the best crop has no vector yet (or the track no crop); "
        "unavailable: the vector store could not be reached."
    )


class SimilarTracksOut(Schema):
    """The tracks most similar to a whole track, one crop each."""

    query: TrackSummary
    embedded: bool = Field(description="False while none of the track's crops has a vector.")
    items: list[TrackOut]


def _visible(request: HttpRequest, track_id: str) -> Track:
    """The track if the caller may see its camera; 404 otherwise, or for no such id (the
    search pages' lookup, `cloud.search.views.visible_track`)."""
    found = views.visible_track(request, track_id)
    if found is None:
        raise Http404("no such track")
    return found


@router.get("", response=TrackPage)
def tracks(request: HttpRequest, query: Query[GridQuery]) -> TrackPage:
    """Sightings matching the filters, each by its best crop: the sightings grid."""
    cards, has_next = grid(request, query)
    return TrackPage(
        items=[track_out(request, card) for card in cards], page=query.page, has_next=has_next
    )


@router.get("/{track_id}", response=TrackDetail)
def track(request: HttpRequest, track_id: str) -> TrackDetail:
    """One sighting: its crops, the context frame and box, its path, first and last seen, and
    sightings of similar objects on other cameras (the track page)."""
    found = _visible(request, track_id)
    context = track_context(
        found,
        SearchCriteria(visible_camera_ids=scope.visible_camera_ids(request.user)),
        objects=backends.object_store(),
        vectors=backends.vector_store,
    )
    crops = cast("list[CropCard]", context["cards"])
    overlay = context["overlay"]
    timeline = context.get("timeline")
    similar = None
    if isinstance(timeline, Timeline):
        similar = sorted(
            (row.card for row in timeline.rows if not row.is_this),
            key=lambda card: -(card.similarity or 0.0),
        )
    status: Literal["ok", "not_embedded", "unavailable"] = "ok"
    if similar is None:
        status = "unavailable" if context.get("similar_unavailable") else "not_embedded"
    return TrackDetail(
        **summary(found).model_dump(),
        crops=[detection_out(request, card) for card in crops],
        more_crops=bool(context["more_crops"]),
        best_crop_id=found.best_detection_id,
        context_frame=_frame(request, overlay) if isinstance(overlay, Overlay) else None,
        path=[PathPoint(ts=datetime.fromtimestamp(t, UTC), x=x, y=y) for t, x, y in found.path],
        similar_elsewhere=None if similar is None else [track_out(request, c) for c in similar],
        similar_status=status,
    )


@router.get("/{track_id}/similar", response=SimilarTracksOut)
def similar(request: HttpRequest, track_id: str, query: Query[SimilarQuery]) -> SimilarTracksOut:
    """The `k` tracks most similar to this whole track (the normalised mean of its crops'
    vectors, `cloud.search.similarity.track_query`) that match the filters and score at
    least `min_score`; the track itself is left out."""
    found = _visible(request, track_id)
    wanted, order = criteria(request, query, query.order, by_score=True)
    crop_ids = (
        Detection.objects.filter(track=found).order_by("ts", "id").values_list("pk", flat=True)
    )
    cards = track_similar_cards(
        list(crop_ids[:MAX_CROPS]),
        wanted,
        vectors=backends.vector_store(),
        objects=backends.object_store(),
        k=query.k,
        order=order,
        min_score=query.min_score,
    )
    return SimilarTracksOut(
        query=summary(found),
        embedded=cards is not None,
        items=[track_out(request, card) for card in cards or []],
    )


def _frame(request: HttpRequest, overlay: Overlay) -> ContextFrame:
    # The page's overlay is in OVERLAY_SCALE units: back to fractions of the frame.
    x, y, width, height = (value / OVERLAY_SCALE for value in overlay.box)
    return ContextFrame(
        image_url=request.build_absolute_uri(overlay.image_url),
        box=Box(x_min=x, y_min=y, x_max=x + width, y_max=y + height),
    )
