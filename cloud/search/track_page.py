"""What the track page shows: one sighting's crops, its scene and where it went, and sightings
of similar objects on other cameras on a timeline.

The scene is the context frame the edge sent with one of the track's crops (the best crop's
when it has one): the box of that crop and the track's path are drawn over it in normalised
frame coordinates (`Overlay`), which fit any size the image is shown at. Similar sightings come
from the similar search by the whole track (`cloud.search.similarity.track_query`: the mean of
its crops' vectors), limited to the other cameras the user may see, and are drawn as bars on a
time axis with ticks at round times; when the vector store cannot be reached the page still
shows the track, and says so.
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
from cloud.search.results import (
    CROP_URL_LIFETIME,
    CropCard,
    crop_cards,
    track_similar_cards,
    with_faces,
)

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
MAX_TICKS: Final = 6
"""Most labelled ticks on the timeline's axis."""
# Tick spacings, in seconds: round steps of clock time, from a second to a week.
_TICK_STEPS: Final = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800)
_TICK_STEPS_LONG: Final = (21600, 43200, 86400, 2 * 86400, 7 * 86400)


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
    cards = with_faces(crop_cards(track, crops, objects))
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
        similar = _similar_elsewhere(track, crops, scope, objects, vectors)
    except VectorStoreUnavailable as err:
        logger.warning("track page %s: vector store unavailable: %s", track.pk, err)
        context["similar_unavailable"] = True
        return context
    if similar is not None:
        # None: no crop is embedded yet, and the page says so instead.
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
    crops: Sequence[Detection],
    scope: SearchCriteria,
    objects: ObjectStore,
    vectors: Callable[[], VectorStore],
) -> list[CropCard] | None:
    """Tracks like this one (by the crops shown) on the other cameras the user may see."""
    others = frozenset(Camera.objects.exclude(pk=track.camera_id).values_list("pk", flat=True))
    criteria = SearchCriteria(camera_ids=others, visible_camera_ids=scope.visible_camera_ids)
    return track_similar_cards(
        [crop.id for crop in crops], criteria, vectors=vectors(), objects=objects, k=SIMILAR_K
    )


@dataclass(frozen=True)
class Tick:
    """A labelled time on the timeline's axis, `left` percent along it."""

    moment: datetime
    left: float


@dataclass(frozen=True)
class Timeline:
    """Sightings on one time axis, from `start` to `end`, with ticks at round times."""

    rows: list[TimelineRow]
    start: datetime
    end: datetime
    ticks: list[Tick]
    step: timedelta
    """The time between ticks."""

    @property
    def spans_days(self) -> bool:
        """Whether the axis is a day or longer, so that its ticks need dates too."""
        return self.end - self.start >= timedelta(days=1)


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
    step = tick_step(span)
    ticks = [Tick(moment, percent(moment)) for moment in tick_times(start, start + span, step)]
    return Timeline(rows, start, end, ticks, step)


def tick_step(span: timedelta) -> timedelta:
    """The roundest spacing that puts at most `MAX_TICKS` ticks on an axis `span` long."""
    seconds = span.total_seconds()
    for step in (*_TICK_STEPS, *_TICK_STEPS_LONG):
        if seconds / step <= MAX_TICKS:
            return timedelta(seconds=step)
    weeks = -(-seconds // (7 * 86400 * MAX_TICKS))
    return timedelta(weeks=weeks)


def tick_times(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """The multiples of `step` (since the Unix epoch, so that ticks fall on round clock times
    in UTC) from `start` to `end`, both included."""
    epoch = datetime(1970, 1, 1, tzinfo=start.tzinfo)
    first = epoch + step * -((epoch - start) // step)
    times = []
    moment = first
    while moment <= end:
        times.append(moment)
        moment += step
    return times
