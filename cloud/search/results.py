"""Search results as the templates show them: one card per track (a sighting), with a crop.

`page_of` cuts a page of tracks out of the grid's query; `track_cards` turns tracks into cards
by their best crops; `similar_cards` runs the similar-objects search for one detection, one card
per track; `crop_cards` shows given crops of one track. None touches the request: the views pass
in the stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from django.db.models import QuerySet

from cloud.detections.models import Detection, Track
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import MAX_K, Hit, VectorStore
from cloud.search.criteria import Order, SearchCriteria

CROP_URL_LIFETIME: Final = timedelta(hours=1)
"""How long a page's crop links work: long enough to leave a results page open a while."""
NEIGHBOURS_PER_RESULT: Final = 4
"""Nearest crops fetched per wanted result, and the factor by which a search widens: a track
usually has one to a few crops."""


@dataclass(frozen=True)
class CropCard:
    """One sighting (a track) in a grid or list, shown by one of its crops."""

    track: Track
    detection: Detection
    """The crop shown: the track's best, or in similar search its crop closest to the query."""
    image_url: str
    """Presigned, expiring URL of the crop JPEG (the browser fetches it without a session)."""
    similarity: float | None = None
    """Cosine similarity with the query crop, in [-1, 1]; None outside similar search."""


@dataclass(frozen=True)
class ResultPage:
    """One page of tracks; no total count, which would cost a scan of every match."""

    number: int
    """From 1."""
    tracks: list[Track]
    has_next: bool

    @property
    def has_previous(self) -> bool:
        """Whether a page comes before this one."""
        return self.number > 1

    @property
    def next_page_number(self) -> int:
        """The number of the page after this one."""
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        """The number of the page before this one."""
        return self.number - 1


def page_of(tracks: QuerySet[Track], number: int, size: int) -> ResultPage:
    """Page `number` (from 1) of `size` tracks, and whether another page follows.

    Two queries: the page's ids (one more than a page, to know whether another follows), then
    those tracks with what `tracks` joins. A deep page skips only index entries that way, not
    the joined rows of every track before it.
    """
    start = (number - 1) * size
    ids = list(tracks.values_list("pk", flat=True)[start : start + size + 1])
    rows = tracks.filter(pk__in=ids[:size]).in_bulk() if ids else {}
    return ResultPage(number, [rows[pk] for pk in ids[:size]], has_next=len(ids) > size)


def track_cards(tracks: Iterable[Track], objects: ObjectStore) -> list[CropCard]:
    """One card per track by its best crop (tracks from `SearchCriteria.tracks`, which joins
    it), in the given order."""
    cards = []
    for track in tracks:
        best = track.best_detection
        # `SearchCriteria.tracks` only lists tracks with a best crop.
        assert best is not None
        cards.append(_card(track, best, objects))
    return cards


def crop_cards(
    track: Track, detections: Iterable[Detection], objects: ObjectStore
) -> list[CropCard]:
    """One card per crop of `track`, in the given order."""
    return [_card(track, detection, objects) for detection in detections]


def similar_cards(
    detection: Detection,
    criteria: SearchCriteria,
    *,
    vectors: VectorStore,
    objects: ObjectStore,
    k: int,
    order: Order = Order.SCORE,
) -> list[CropCard] | None:
    """The `k` tracks most similar to `detection`'s that match `criteria`, in `order` (best
    first by default).

    A track (one object) appears once, by its crop closest to the query: the edge may send
    an early crop of a track and better ones later, and each has its vector. The query's own
    track is never among the results (its other crops are the same object). Neighbours are
    fetched `NEIGHBOURS_PER_RESULT` times `k` at a time, more when tracks with many crops
    take up the nearest ones or the tracks fail what only the database knows
    (`SearchCriteria.admits`). Returns None when `detection` has no vector yet (not embedded,
    or the store was rebuilt). Raises what the vector store raises, `VectorStoreUnavailable`
    included.
    """
    item = vectors.get(detection.id)
    if item is None:
        return None
    filters = criteria.vector_filters(exclude_ids=[detection.id])
    fetch = min(MAX_K, k * NEIGHBOURS_PER_RESULT)
    while True:
        hits = vectors.query(item.vector, k=fetch, filters=filters)
        cards = _closest_per_track(hits, detection.track_id, criteria, objects, k)
        if len(cards) >= k or len(hits) < fetch or fetch == MAX_K:
            break
        fetch = min(MAX_K, fetch * NEIGHBOURS_PER_RESULT)
    if order is Order.NEWEST:
        cards.sort(key=lambda card: card.track.last_seen, reverse=True)
    elif order is Order.OLDEST:
        cards.sort(key=lambda card: card.track.last_seen)
    return cards


def _closest_per_track(
    hits: list[Hit], query_track: str, criteria: SearchCriteria, objects: ObjectStore, k: int
) -> list[CropCard]:
    """Up to `k` cards from best-first `hits`: the first hit of each admitted track but the
    query's."""
    rows = Detection.objects.select_related("camera", "track__camera__device").in_bulk(
        [hit.detection_id for hit in hits]
    )
    cards: list[CropCard] = []
    seen = {query_track}
    for hit in hits:
        # The database is the source of truth: a vector whose detection was deleted is skipped.
        row = rows.get(hit.detection_id)
        if row is None or row.track_id in seen:
            continue
        seen.add(row.track_id)
        if not criteria.admits(row.track):
            continue
        cards.append(_card(row.track, row, objects, hit.score))
        if len(cards) == k:
            break
    return cards


def _card(
    track: Track, detection: Detection, objects: ObjectStore, similarity: float | None = None
) -> CropCard:
    url = objects.presigned_get_url(detection.object_key, CROP_URL_LIFETIME)
    return CropCard(track, detection, url, similarity)
