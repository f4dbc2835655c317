"""What the search pages filter on, applied to the database and to the vector store alike.

One `SearchCriteria` feeds both the track grid (a database query over tracks) and the
similar-objects list (a vector store query over crops), so the pages can never disagree about
what a filter means. Each filter is one field, applied in `tracks` to the database, in
`vector_filters` to the vector store where the store can (cameras, classes, time) and in
`admits` to the tracks behind vector hits where it cannot (track duration, user labels): a new
filter is one more field in those three places.

Cameras are the one filter a user cannot widen: `visible_camera_ids` is the set the user may
see (the views set it from their scope helper, `cloud.search.views.visible_cameras`), and every
query is limited to it on top of what the user picked in `camera_ids`.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django.db.models import DurationField, ExpressionWrapper, F, Max, QuerySet
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual

from cloud.detections.models import Detection, Track
from cloud.labels.matching import labelled_crops, labelled_tracks
from cloud.lib.vectorstore import Filters

DURATION: Final = ExpressionWrapper(F("last_seen") - F("first_seen"), output_field=DurationField())
"""A track's duration, as the `tracks_duration` index has it."""


def _longest_duration() -> timedelta | None:
    """The longest duration of any track (None without tracks): one index probe."""
    longest: timedelta | None = Track.objects.aggregate(longest=Max(DURATION))["longest"]
    return longest


class Order(enum.Enum):
    """How results are sorted; `SCORE` only where there is a similarity (similar search)."""

    NEWEST = "newest"
    OLDEST = "oldest"
    SCORE = "score"


@dataclass(frozen=True)
class SearchCriteria:
    """Which tracks to show; a None field does not filter. `until` is exclusive.

    A track matches the time range when it was seen in it at all (its first..last seen span
    overlaps the range); its duration is last seen minus first seen. Cameras are `Camera`
    primary keys, not the edge's camera ids: those repeat across devices, and the vector
    store's ``camera_id`` property is the primary key too (see `cloud.embeddings.services`).
    """

    camera_ids: frozenset[int] | None = None
    """The cameras picked (by camera, site or group; `cloud.search.forms`)."""
    visible_camera_ids: frozenset[int] | None = None
    """The cameras the user may see; None: every camera. Never widened by `camera_ids`."""
    labels: tuple[str, ...] | None = None
    """Detector classes (any of them)."""
    user_labels: tuple[int, ...] | None = None
    """User labels (`cloud.labels.models.Label` keys, any of them): tracks with a crop that has
    one, as `cloud.labels.matching` says (a positive mark, or a confident learned score)."""
    since: datetime | None = None
    until: datetime | None = None
    min_duration: timedelta | None = None
    max_duration: timedelta | None = None

    @property
    def is_empty(self) -> bool:
        """True when the user filtered nothing (scope is not a filter the user chose)."""
        return self == SearchCriteria(visible_camera_ids=self.visible_camera_ids)

    @property
    def cameras(self) -> frozenset[int] | None:
        """The cameras results may come from: those picked that the user may see."""
        if self.camera_ids is None:
            return self.visible_camera_ids
        if self.visible_camera_ids is None:
            return self.camera_ids
        return self.camera_ids & self.visible_camera_ids

    def tracks(self, order: Order = Order.NEWEST) -> QuerySet[Track]:
        """Matching tracks that have a crop, with their camera, device and best crop joined (one
        query per page), newest or oldest last seen first.

        Sorted by last seen (then id, for a stable page order), which the track indexes serve
        with and without a camera or class filter: a page walks an index in order and stops
        after a page of rows (`cloud.detections.models.Track`). A time range bounds last seen
        from both sides, so that the walk starts at the range rather than at the newest track:
        a track that began before `until` was last seen before `until` plus the longest
        duration of any track, which one probe of the duration index reads.
        """
        tracks = self._matching(
            Track.objects.filter(best_detection__isnull=False).select_related(
                "camera__device", "best_detection"
            )
        )
        if order is Order.OLDEST:
            return tracks.order_by("last_seen", "id")
        return tracks.order_by("-last_seen", "-id")

    def best_detections(self) -> QuerySet[Detection]:
        """The best crop of each matching track, with its camera joined, in no set order.

        For searches that rank crops by what is in them (text search by colour): a track shows
        once, by the crop the grid shows for it, so a text result and a grid result of one
        track are the same crop.
        """
        best = self._matching(Track.objects.filter(best_detection__isnull=False))
        return Detection.objects.filter(pk__in=best.values("best_detection_id")).select_related(
            "camera", "track__camera__device"
        )

    def _matching(self, tracks: QuerySet[Track]) -> QuerySet[Track]:
        cameras = self.cameras
        if cameras is not None:
            tracks = tracks.filter(camera_id__in=sorted(cameras))
        if self.labels is not None:
            tracks = tracks.filter(label__in=self.labels)
        if self.user_labels is not None:
            tracks = tracks.filter(labelled_tracks(self.user_labels))
        if self.since is not None:
            tracks = tracks.filter(last_seen__gte=self.since)
        if self.until is not None:
            tracks = tracks.filter(first_seen__lt=self.until)
            longest = _longest_duration()
            if longest is not None:
                # Implied by the filter above; spelled out for the index (see `tracks`).
                tracks = tracks.filter(last_seen__lte=self.until + longest)
        # The expression of the duration index, so that the database may use it.
        if self.min_duration is not None:
            tracks = tracks.filter(GreaterThanOrEqual(DURATION, self.min_duration))
        if self.max_duration is not None:
            tracks = tracks.filter(LessThanOrEqual(DURATION, self.max_duration))
        return tracks

    def vector_filters(self, *, exclude_ids: Collection[str] = ()) -> Filters:
        """The restrictions the vector store can apply (to crops: cameras, classes, capture
        time), never returning `exclude_ids`; `admits` checks the rest per track."""
        cameras = self.cameras
        return Filters(
            camera_ids=None if cameras is None else [str(pk) for pk in cameras],
            labels=self.labels,
            since=self.since,
            until=self.until,
            exclude_ids=exclude_ids,
        )

    def admits(self, track: Track) -> bool:
        """Whether a track behind a vector hit passes what `vector_filters` cannot say about
        it: its duration is in range, it has one of the user labels asked for (one query per
        track, only with that filter), and its camera and class (the database is the truth,
        should a vector's properties be stale) match."""
        cameras = self.cameras
        duration = track.last_seen - track.first_seen
        return (
            (cameras is None or track.camera_id in cameras)
            and (self.labels is None or track.label in self.labels)
            and (self.min_duration is None or duration >= self.min_duration)
            and (self.max_duration is None or duration <= self.max_duration)
            and (
                self.user_labels is None
                or labelled_crops(self.user_labels).filter(track_id=track.pk).exists()
            )
        )
