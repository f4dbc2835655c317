"""What the search pages filter on, applied to the database and to the vector store alike.

One `SearchCriteria` feeds both the detection grid (a database query) and the similar-objects
list (a vector store query), so the two pages can never disagree about what a filter means.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from cloud.detections.models import Detection
from cloud.lib.vectorstore import Filters


@dataclass(frozen=True)
class SearchCriteria:
    """Which detections to show; a None field does not filter. `until` is exclusive.

    Cameras are `Camera` primary keys, not the edge's camera ids: those repeat across devices,
    and the vector store's ``camera_id`` property is the primary key too (see
    `cloud.embeddings.services`).
    """

    camera_ids: tuple[int, ...] | None = None
    labels: tuple[str, ...] | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def is_empty(self) -> bool:
        """True when nothing is filtered (every detection matches)."""
        return self == SearchCriteria()

    def detections(self) -> QuerySet[Detection]:
        """Matching detections, one per track, newest first, with their cameras joined (one
        query per page).

        The edge may send several crops of one track (an early one, better ones later), which
        are one object: a track is shown by its best-scoring crop among those that match
        (ties: the earlier crop, as `Track.best_detection`). Written as "no better matching
        crop in the same track exists", which the database answers per row through the track
        index, so a page still walks the time index and stops after a page of rows.
        """
        better_in_track = self._matching(
            Detection.objects.filter(track_id=OuterRef("track_id"))
        ).filter(Q(score__gt=OuterRef("score")) | Q(score=OuterRef("score"), id__lt=OuterRef("id")))
        matching = self._matching(Detection.objects.select_related("camera"))
        return matching.filter(~Exists(better_in_track)).order_by("-ts", "-id")

    def _matching(self, detections: QuerySet[Detection]) -> QuerySet[Detection]:
        if self.camera_ids is not None:
            detections = detections.filter(camera_id__in=self.camera_ids)
        if self.labels is not None:
            detections = detections.filter(label__in=self.labels)
        if self.since is not None:
            detections = detections.filter(ts__gte=self.since)
        if self.until is not None:
            detections = detections.filter(ts__lt=self.until)
        return detections

    def vector_filters(self, *, exclude_ids: Collection[str] = ()) -> Filters:
        """The same restrictions as vector store `Filters`, never returning `exclude_ids`."""
        return Filters(
            camera_ids=None if self.camera_ids is None else [str(pk) for pk in self.camera_ids],
            labels=self.labels,
            since=self.since,
            until=self.until,
            exclude_ids=exclude_ids,
        )
