"""What the track page shows: one sighting's crops, its scene and where it went, and sightings
of similar objects on other cameras on a timeline.

The scene is the context frame the edge sent with one of the track's crops (the best crop's
when it has one): the box of that crop and the track's path are drawn over it in normalised
frame coordinates (`Overlay`), which fit any size the image is shown at. Similar sightings come
from the similar search of the track's best crop, limited to the other cameras the user may
see; when the vector store cannot be reached the page still shows the track, and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from cloud.detections.models import Detection, Track
from cloud.fleet.models import Camera
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore, VectorStoreUnavailable
from cloud.search.criteria import SearchCriteria
from cloud.search.results import CROP_URL_LIFETIME, CropCard, crop_cards, similar_cards

logger = logging.getLogger(__name__)

MAX_CROPS: Final = 48
"""Crops of one track shown, in time order (a long track sends a few per interval)."""
SIMILAR_K: Final = 12
"""Sightings of similar objects on other cameras shown."""
OVERLAY_SCALE: Final = 1000
"""The overlay's coordinate range: normalised coordinates times this, so that SVG numbers are
short and need no decimals to be exact to a tenth of a percent."""
_MIN_BAR_PERCENT: Final = 0.6
"""Narrowest timeline bar, so that a sighting of one frame still shows."""


@dataclass(frozen=True)
class Overlay:
    """The box and path drawn over the context frame, in `OVERLAY_SCALE` units."""

    image_url: str
    box: tuple[float, float, float, float]
    """x, y, width, height of the crop's box."""
    path: str
    """SVG polyline points ("x,y x,y ..."); empty when the track has no path."""
    start: tuple[float, float] | None
    """The first point of the path (where the object came from); None without a path."""
    end: tuple[float, float] | None
    """The latest point of the path."""


@dataclass(frozen=True)
class TimelineRow:
    """One sighting on the timeline: where its bar starts and how wide it is, in percent."""

    card: CropCard
    left: float
    width: float
    is_this: bool
    """The track of the page itself."""


def track_context(
    track: Track,
    scope: SearchCriteria,
    *,
    objects: ObjectStore,
    vectors: Callable[[], VectorStore],
) -> dict[str, object]:
    """The track page's template context. `scope` carries the cameras the user may see;
    `vectors` is called only for the similar search. Raises `ObjectStoreUnavailable`."""
    crops = list(Detection.objects.filter(track=track).order_by("ts", "id")[:MAX_CROPS])
    cards = crop_cards(track, crops, objects)
    best = track.best_detection
    context: dict[str, object] = {
        "track": track,
        "cards": cards,
        "more_crops": len(crops) == MAX_CROPS,
        "overlay": _overlay(track, best, objects),
    }
    if best is None:
        return context
    (this,) = crop_cards(track, [best], objects)
    try:
        similar = _similar_elsewhere(track, best, scope, objects, vectors)
    except VectorStoreUnavailable as err:
        logger.warning("track page %s: vector store unavailable: %s", track.pk, err)
        context["similar_unavailable"] = True
        return context
    if similar is not None:
        # None: the best crop is not embedded yet, and the page says so instead.
        context["timeline"] = timeline([this, *similar], this)
    return context


def _overlay(track: Track, best: Detection | None, objects: ObjectStore) -> Overlay | None:
    """The context frame to show and what to draw on it; None when no crop has one."""
    shown = best if best is not None and best.context_key else None
    if shown is None:
        shown = (
            Detection.objects.filter(track=track)
            .exclude(context_key="")
            .order_by("-score", "id")
            .first()
        )
    if shown is None:
        return None
    points = [(x * OVERLAY_SCALE, y * OVERLAY_SCALE) for _, x, y in track.path]
    return Overlay(
        image_url=objects.presigned_get_url(shown.context_key, CROP_URL_LIFETIME),
        box=(
            shown.x_min * OVERLAY_SCALE,
            shown.y_min * OVERLAY_SCALE,
            (shown.x_max - shown.x_min) * OVERLAY_SCALE,
            (shown.y_max - shown.y_min) * OVERLAY_SCALE,
        ),
        path=" ".join(f"{x:.1f},{y:.1f}" for x, y in points),
        start=points[0] if points else None,
        end=points[-1] if points else None,
    )


def _similar_elsewhere(
    track: Track,
    best: Detection,
    scope: SearchCriteria,
    objects: ObjectStore,
    vectors: Callable[[], VectorStore],
) -> list[CropCard] | None:
    others = frozenset(Camera.objects.exclude(pk=track.camera_id).values_list("pk", flat=True))
    criteria = SearchCriteria(camera_ids=others, visible_camera_ids=scope.visible_camera_ids)
    return similar_cards(best, criteria, vectors=vectors(), objects=objects, k=SIMILAR_K)


@dataclass(frozen=True)
class Timeline:
    """Sightings on one time axis, from `start` to `end`."""

    rows: list[TimelineRow]
    start: datetime
    end: datetime


def timeline(cards: Sequence[CropCard], this: CropCard) -> Timeline:
    """The sightings of `cards` as bars on one time axis, in time order."""
    start = min(card.track.first_seen for card in cards)
    end = max(card.track.last_seen for card in cards)
    span = max(end - start, timedelta(seconds=1))

    def percent(moment: datetime) -> float:
        return 100 * ((moment - start) / span)

    rows = []
    for card in sorted(cards, key=lambda card: (card.track.first_seen, card.track.pk)):
        left = percent(card.track.first_seen)
        width = max(percent(card.track.last_seen) - left, _MIN_BAR_PERCENT)
        rows.append(TimelineRow(card, min(left, 100 - width), width, card is this))
    return Timeline(rows, start, end)
