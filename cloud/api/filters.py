"""The search pages' filters as API query parameters, parsed by the pages' own form.

`Filters` documents the parameters in the schema; `criteria` hands them to
`cloud.search.forms.SearchForm`, the form the pages parse their query strings with, so that a
site, group or camera filter means exactly what it means on the pages: only the cameras the
caller may see can be picked (another camera's id is refused as on the page, 400), and results
are limited to them whatever is picked (`SearchCriteria.visible_camera_ids`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Schema
from ninja.errors import ValidationError

from cloud import backends
from cloud.access import scope
from cloud.api.pages import PageQuery
from cloud.labels.matching import LEARNED_MIN_CONFIDENCE
from cloud.search.criteria import Order, SearchCriteria
from cloud.search.forms import MAX_DURATION_S, SearchForm
from cloud.search.results import CropCard, page_of, track_cards

TimeOrder = Literal["newest", "oldest"]
ScoreOrder = Literal["score", "newest", "oldest"]
# The form's names that are not the API's.
_PARAMETERS = {"__all__": "request", "sort": "order"}


class Filters(Schema):
    """The search pages' filters; an empty list means every site, group, camera or class.

    Sites, groups and cameras all pick cameras: a result's camera is in every one of them
    that is given.
    """

    site: list[str] = Field(default_factory=list, description="Site ids (any of them).")
    group: list[int] = Field(default_factory=list, description="Camera group ids (any of them).")
    camera: list[int] = Field(default_factory=list, description="Camera ids (any of them).")
    label: list[str] = Field(default_factory=list, description="Classes (any of them).")
    user_label: list[int] = Field(
        default_factory=list,
        description="User label ids (any of them; `/labels`): sightings with a crop marked "
        "positive, or that the label's learned classifier is at least "
        f"{LEARNED_MIN_CONFIDENCE} sure of and nobody marked negative.",
    )
    since: datetime | None = Field(
        None,
        description="Seen from this time on (ISO 8601; without an offset, the site's time "
        "zone), inclusive.",
    )
    until: datetime | None = Field(None, description="Seen before this time, exclusive.")
    min_duration: int | None = Field(
        None, ge=0, le=MAX_DURATION_S, description="Tracks seen at least this many seconds."
    )
    max_duration: int | None = Field(
        None, ge=0, le=MAX_DURATION_S, description="Tracks seen at most this many seconds."
    )


def criteria(
    request: HttpRequest, filters: Filters, order: str | None = None, *, by_score: bool = False
) -> tuple[SearchCriteria, Order]:
    """The criteria of `filters` within the caller's cameras, and the order (`order`, or the
    page's default: most similar first with `by_score`, else newest first).

    Raises ninja's `ValidationError` (a 400 naming each field) for what the form refuses: an
    unknown or hidden site, group or camera, a class that never occurs, an empty time range.
    """
    data: dict[str, Any] = {
        name: value
        for name, value in filters.model_dump().items()
        if value is not None and value != []
    }
    if order is not None:
        data["sort"] = order
    visible = scope.visible_camera_ids(request.user)
    form = SearchForm(data, visible_camera_ids=visible, by_score=by_score)
    if not form.is_valid():
        raise ValidationError(
            [
                {"loc": ("query", _PARAMETERS.get(name, name)), "msg": message}
                for name, messages in form.errors.items()
                for message in messages
            ]
        )
    return form.criteria(), form.order(Order.SCORE if by_score else Order.NEWEST)


class GridQuery(Filters, PageQuery):
    """Filters, order and paging of the sightings grid."""

    order: TimeOrder = Field("newest", description="By last seen: newest or oldest first.")


def grid(request: HttpRequest, query: GridQuery) -> tuple[list[CropCard], bool]:
    """The grid page's cards of the page `query` asks for (one per track, by its best crop),
    and whether another page follows."""
    found, order = criteria(request, query, query.order)
    page = page_of(found.tracks(order), query.page, query.page_size)
    return track_cards(page.tracks, backends.object_store()), page.has_next
