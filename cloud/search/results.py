"""Search results as the templates show them: one card per track (a sighting), with a crop.

`page_of` cuts a page of tracks out of the grid's query; `track_cards` turns tracks into cards
by their best crops; `similar_cards` and `vector_cards` run the similar-objects search for one
detection or a query vector, one card per track; `crop_cards` shows given crops of one track,
`detection_cards` crops ranked one by one; `track_similar_cards` searches by a whole track.
`with_faces` marks the cards whose crop has a face (for a "same face" link), `with_user_labels`
names their tracks' user labels. None touches the
request: the views pass in the stores.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

import numpy.typing as npt
from django.db.models import QuerySet

from cloud.detections.models import Detection, Track
from cloud.faces.models import Face
from cloud.labels.matching import labels_of_tracks
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import MAX_K, VectorStore
from cloud.search.criteria import Order, SearchCriteria
from cloud.search.similarity import TrackHit, similar_to_vector, track_query

CROP_URL_LIFETIME: Final = timedelta(hours=1)
"""How long a page's crop links work: long enough to leave a results page open a while."""
NEIGHBOURS_PER_RESULT: Final = 4
"""The factor by which a similar search widens when the database drops tracks it found."""


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
    has_face: bool = False
    """Whether a face was found in the crop (`cloud.faces`), so face search can start from it;
    set by `with_faces`."""
    user_labels: tuple[str, ...] = ()
    """Names of the user labels the track has (`cloud.labels.matching`); set by
    `with_user_labels`."""


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


def detection_cards(detections: Iterable[Detection], objects: ObjectStore) -> list[CropCard]:
    """One card per crop, each of its own track (joined: `select_related("track")`), in the
    given order: results ranked by crop (text search) rather than by track."""
    return [_card(detection.track, detection, objects) for detection in detections]


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
    min_score: float = -1.0,
) -> list[CropCard] | None:
    """The `k` tracks most similar to `detection`'s crop that match `criteria` and score at
    least `min_score`, other than its own track, in `order` (best first by default); see
    `vector_cards`.

    Returns None when `detection` has no vector yet (not embedded, or the store was rebuilt).
    """
    item = vectors.get(detection.id)
    if item is None:
        return None
    return vector_cards(
        item.vector,
        criteria,
        vectors=vectors,
        objects=objects,
        k=k,
        order=order,
        exclude_track=detection.track_id,
        exclude_ids=(detection.id,),
        min_score=min_score,
    )


def track_similar_cards(
    detection_ids: Collection[str],
    criteria: SearchCriteria,
    *,
    vectors: VectorStore,
    objects: ObjectStore,
    k: int,
    order: Order = Order.SCORE,
    min_score: float = -1.0,
) -> list[CropCard] | None:
    """The `k` tracks most similar to a whole track, given its crops' ids, that match
    `criteria` and score at least `min_score`, other than that track, in `order` (best first
    by default; `cloud.search.similarity.track_query`).

    Returns None when none of the crops has a vector yet.
    """
    query = track_query(vectors, list(detection_ids))
    if query is None:
        return None
    return vector_cards(
        query.vector,
        criteria,
        vectors=vectors,
        objects=objects,
        k=k,
        order=order,
        exclude_track=query.track_id,
        exclude_ids=query.detection_ids,
        min_score=min_score,
    )


def vector_cards(
    vector: npt.ArrayLike,
    criteria: SearchCriteria,
    *,
    vectors: VectorStore,
    objects: ObjectStore,
    k: int,
    order: Order = Order.SCORE,
    exclude_track: str | None = None,
    exclude_ids: Collection[str] = (),
    min_score: float = -1.0,
) -> list[CropCard]:
    """The `k` tracks whose crops in `vectors` are most like `vector`, score at least
    `min_score` and match `criteria`, one card each (its closest crop, scored), in `order`.

    Every similar search of the pages ends here: a stored crop's vector, an uploaded image's,
    a face's (in the face collection) or a text's (in the image-text collection). The tracks
    come from `cloud.search.similarity` under the filters the vector store can apply; the
    database then drops what only it knows about (`SearchCriteria.admits`: duration, and the
    truth should a vector's properties be stale), asking for more tracks while that leaves
    fewer than `k`. Raises what the vector store raises, `VectorStoreUnavailable` included.
    """
    filters = criteria.vector_filters(exclude_ids=exclude_ids)
    wanted = min(MAX_K, k)
    while True:
        hits = similar_to_vector(
            vectors,
            vector,
            k=wanted,
            filters=filters,
            exclude_track=exclude_track,
            min_score=min_score,
        )
        cards = _admitted_cards(hits, criteria, objects)
        if len(cards) >= k or len(hits) < wanted or wanted == MAX_K:
            break
        wanted = min(MAX_K, wanted * NEIGHBOURS_PER_RESULT)
    cards = cards[:k]
    if order is Order.NEWEST:
        cards.sort(key=lambda card: card.track.last_seen, reverse=True)
    elif order is Order.OLDEST:
        cards.sort(key=lambda card: card.track.last_seen)
    return cards


def with_faces(cards: list[CropCard]) -> list[CropCard]:
    """`cards`, each marked with whether its crop has a face: one query for them all."""
    faces = set(
        Face.objects.filter(detection_id__in=[card.detection.id for card in cards]).values_list(
            "detection_id", flat=True
        )
    )
    return [replace(card, has_face=card.detection.id in faces) for card in cards]


def with_user_labels(cards: list[CropCard]) -> list[CropCard]:
    """`cards`, each with the names of its track's user labels: two queries for them all."""
    labels = labels_of_tracks({card.track.pk for card in cards})
    return [replace(card, user_labels=tuple(labels.get(card.track.pk, ()))) for card in cards]


def _admitted_cards(
    hits: list[TrackHit], criteria: SearchCriteria, objects: ObjectStore
) -> list[CropCard]:
    """Cards of the hits whose rows exist and whose tracks `criteria` admits, in order."""
    rows = Detection.objects.select_related("camera", "track__camera__device").in_bulk(
        [hit.detection_id for hit in hits]
    )
    cards: list[CropCard] = []
    for hit in hits:
        # The database is the source of truth: a vector whose detection was deleted is skipped.
        row = rows.get(hit.detection_id)
        if row is not None and criteria.admits(row.track):
            cards.append(_card(row.track, row, objects, hit.score))
    return cards


def _card(
    track: Track, detection: Detection, objects: ObjectStore, similarity: float | None = None
) -> CropCard:
    url = objects.presigned_get_url(detection.object_key, CROP_URL_LIFETIME)
    return CropCard(track, detection, url, similarity)
