"""Detections: search with the grid page's filters, one detection, and its similar objects.

Each answer is narrowed to the caller's cameras (`cloud.access.scope`) exactly as the search
pages are: a detection of another camera is "not found", and similar search filters the
vector store by the same cameras, so no crop URL of it is ever signed for this caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from pydantic import model_validator

from cloud import backends
from cloud.access import scope
from cloud.api.pages import PageQuery, page_of
from cloud.detections.models import Detection
from cloud.search.criteria import SearchCriteria
from cloud.search.results import CropCard, detection_cards, similar_cards, track_cards

router = Router(tags=["detections"])

MAX_SIMILAR = 100


class Box(Schema):
    """A box as fractions of the frame's width and height, from its top-left corner."""

    x_min: float
    y_min: float
    x_max: float
    y_max: float


class DetectionOut(Schema):
    """One detection: a crop of one object in one frame."""

    id: str
    track_id: str
    camera: int = Field(description="The camera's id in the API (the `camera` filter's).")
    camera_name: str
    device_id: str
    ts: datetime = Field(description="Capture time, as the device's clock says.")
    label: str
    score: float
    box: Box
    frame_width: int
    frame_height: int
    crop_url: str = Field(description="Signed URL of the crop JPEG; it expires within an hour.")
    similarity: float | None = Field(
        None, description="Cosine similarity with the query crop (similar search only)."
    )


class DetectionPage(Schema):
    """A page of detections (one per track, best crop), newest first."""

    items: list[DetectionOut]
    page: int
    has_next: bool


class SimilarOut(Schema):
    """The tracks most similar to a detection's, best first, one crop each."""

    query: DetectionOut
    embedded: bool = Field(description="False while the query crop has no vector yet.")
    items: list[DetectionOut]


class Filters(Schema):
    """The grid page's filters; an empty list means every camera or class."""

    camera: list[int] = Field(default_factory=list, description="Camera ids (any of them).")
    label: list[str] = Field(default_factory=list, description="Classes (any of them).")
    since: datetime | None = Field(None, description="From this time (ISO 8601), inclusive.")
    until: datetime | None = Field(None, description="Until this time (ISO 8601), exclusive.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("'since' must come before 'until'")
        return self

    def criteria(self, request: HttpRequest) -> SearchCriteria:
        """The search criteria, within the caller's cameras."""
        return SearchCriteria(
            camera_ids=frozenset(self.camera) or None,
            visible_camera_ids=scope.visible_camera_ids(request.user),
            labels=tuple(sorted(set(self.label))) or None,
            since=self.since,
            until=self.until,
        )


class SearchQuery(Filters, PageQuery):
    """Filters and paging of the detections search."""


class SimilarQuery(Filters):
    """Filters of similar search, and how many tracks to return."""

    k: int = Field(24, ge=1, le=MAX_SIMILAR, description="Tracks to return.")


def _out(request: HttpRequest, card: CropCard) -> DetectionOut:
    detection = card.detection
    return DetectionOut(
        id=detection.id,
        track_id=detection.track_id,
        camera=detection.camera_id,
        camera_name=str(detection.camera),
        device_id=detection.device_id,
        ts=detection.ts,
        label=detection.label,
        score=detection.score,
        box=Box(
            x_min=detection.x_min,
            y_min=detection.y_min,
            x_max=detection.x_max,
            y_max=detection.y_max,
        ),
        frame_width=detection.frame_width,
        frame_height=detection.frame_height,
        # The local store signs paths of this site; S3 URLs are absolute already.
        crop_url=request.build_absolute_uri(card.image_url),
        similarity=card.similarity,
    )


def _visible(request: HttpRequest, detection_id: str) -> Detection:
    return get_object_or_404(
        scope.visible_detections(
            request.user, Detection.objects.select_related("camera", "track__camera__device")
        ),
        pk=detection_id,
    )


@router.get("", response=DetectionPage)
def search(request: HttpRequest, query: Query[SearchQuery]) -> DetectionPage:
    """Detections matching the filters, one per track (its best crop), newest first."""
    tracks, has_next = page_of(query.criteria(request).tracks(), query)
    cards = track_cards(tracks, backends.object_store())
    return DetectionPage(
        items=[_out(request, card) for card in cards], page=query.page, has_next=has_next
    )


@router.get("/{detection_id}", response=DetectionOut)
def detection(request: HttpRequest, detection_id: str) -> DetectionOut:
    """One detection, with a fresh crop URL."""
    found = _visible(request, detection_id)
    return _out(request, detection_cards([found], backends.object_store())[0])


@router.get("/{detection_id}/similar", response=SimilarOut)
def similar(request: HttpRequest, detection_id: str, query: Query[SimilarQuery]) -> SimilarOut:
    """The `k` tracks most similar to this detection's that match the filters, best first;
    the query's own track is left out."""
    found = _visible(request, detection_id)
    objects = backends.object_store()
    cards = similar_cards(
        found, query.criteria(request), vectors=backends.vector_store(), objects=objects, k=query.k
    )
    return SimilarOut(
        query=_out(request, detection_cards([found], objects)[0]),
        embedded=cards is not None,
        items=[_out(request, card) for card in cards or []],
    )
