"""Detections: search with the grid page's filters, one detection, and its similar objects.

Each answer is narrowed to the caller's cameras (`cloud.access.scope`) exactly as the search
pages are: a detection of another camera is "not found", and similar search filters the
vector store by the same cameras, so no crop URL of it is ever signed for this caller.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema

from cloud import backends
from cloud.api.cards import DetectionOut, detection_out
from cloud.api.filters import Filters, GridQuery, ScoreOrder, criteria, grid
from cloud.detections.models import Detection
from cloud.search import views
from cloud.search.results import detection_cards, similar_cards
from cloud.search.similarity import DEFAULT_THRESHOLD

router = Router(tags=["detections"])

MAX_SIMILAR = 100


class DetectionPage(Schema):
    """A page of detections (one per track, best crop)."""

    items: list[DetectionOut]
    page: int
    has_next: bool


class SimilarOut(Schema):
    """The tracks most similar to a detection's, one crop each."""

    query: DetectionOut
    embedded: bool = Field(description="False while the query crop has no vector yet.")
    items: list[DetectionOut]


class SimilarQuery(Filters):
    """Filters of a similar search, how many tracks to return, the least score and the order."""

    k: int = Field(24, ge=1, le=MAX_SIMILAR, description="Tracks to return (at most).")
    min_score: float = Field(
        -1.0,
        ge=-1.0,
        le=1.0,
        description="Leave out tracks scoring below this cosine similarity. From "
        f"{DEFAULT_THRESHOLD} (`cloud.search.similarity.DEFAULT_THRESHOLD`) a hit is the "
        "same object as the query about half the time (calibrated on person crops of "
        "vtest.avi); the default keeps every hit.",
    )
    order: ScoreOrder = Field(
        "score", description="Most similar first, or by last seen (newest or oldest first)."
    )


def visible_detection(request: HttpRequest, detection_id: str) -> Detection:
    """The detection if the caller may see its camera; 404 otherwise, or for no such id (the
    search pages' lookup, `cloud.search.views.visible_detection`)."""
    found = views.visible_detection(request, detection_id)
    if found is None:
        raise Http404("no such detection")
    return found


@router.get("", response=DetectionPage)
def search(request: HttpRequest, query: Query[GridQuery]) -> DetectionPage:
    """Detections matching the filters, one per track (its best crop), in the grid's order."""
    cards, has_next = grid(request, query)
    return DetectionPage(
        items=[detection_out(request, card) for card in cards], page=query.page, has_next=has_next
    )


@router.get("/{detection_id}", response=DetectionOut)
def detection(request: HttpRequest, detection_id: str) -> DetectionOut:
    """One detection, with a fresh crop URL."""
    found = visible_detection(request, detection_id)
    return detection_out(request, detection_cards([found], backends.object_store())[0])


@router.get("/{detection_id}/similar", response=SimilarOut)
def similar(request: HttpRequest, detection_id: str, query: Query[SimilarQuery]) -> SimilarOut:
    """The `k` tracks most similar to this detection's crop that match the filters and score
    at least `min_score`; the query's own track is left out (the similar page's search)."""
    found = visible_detection(request, detection_id)
    wanted, order = criteria(request, query, query.order, by_score=True)
    objects = backends.object_store()
    cards = similar_cards(
        found,
        wanted,
        vectors=backends.vector_store(),
        objects=objects,
        k=query.k,
        order=order,
        min_score=query.min_score,
    )
    return SimilarOut(
        query=detection_out(request, detection_cards([found], objects)[0]),
        embedded=cards is not None,
        items=[detection_out(request, card) for card in cards or []],
    )
