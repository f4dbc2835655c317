"""Search results as the templates show them: a detection, a URL of its crop, a similarity.

`crop_cards` turns a page of detections into cards; `similar_cards` runs the similar-objects
search for one detection. Neither touches the request: the views pass in the stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from cloud.detections.models import Detection
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import MAX_K, Hit, VectorStore
from cloud.search.criteria import SearchCriteria

CROP_URL_LIFETIME: Final = timedelta(hours=1)
"""How long a page's crop links work: long enough to leave a results page open a while."""
NEIGHBOURS_PER_RESULT: Final = 4
"""Nearest crops fetched per wanted result, and the factor by which a search widens: a track
usually has one to a few crops."""


@dataclass(frozen=True)
class CropCard:
    """One crop in a grid or list."""

    detection: Detection
    image_url: str
    """Presigned, expiring URL of the crop JPEG (the browser fetches it without a session)."""
    similarity: float | None = None
    """Cosine similarity with the query crop, in [-1, 1]; None outside similar search."""


def crop_cards(detections: Iterable[Detection], objects: ObjectStore) -> list[CropCard]:
    """One card per detection, in the given order."""
    return [_card(detection, objects) for detection in detections]


def similar_cards(
    detection: Detection,
    criteria: SearchCriteria,
    *,
    vectors: VectorStore,
    objects: ObjectStore,
    k: int,
) -> list[CropCard] | None:
    """The `k` tracks most similar to `detection`'s that match `criteria`, best first.

    A track (one object) appears once, by its crop closest to the query: the edge may send
    an early crop of a track and better ones later, and each has its vector. The query's own
    track is never among the results (its other crops are the same object). Neighbours are
    fetched `NEIGHBOURS_PER_RESULT` times `k` at a time, more when tracks with many crops
    take up the nearest ones. Returns None when `detection` has no vector yet (not embedded,
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
        cards = _closest_per_track(hits, detection.track_id, objects, k)
        if len(cards) >= k or len(hits) < fetch or fetch == MAX_K:
            return cards
        fetch = min(MAX_K, fetch * NEIGHBOURS_PER_RESULT)


def _closest_per_track(
    hits: list[Hit], query_track: str, objects: ObjectStore, k: int
) -> list[CropCard]:
    """Up to `k` cards from best-first `hits`: the first hit of each track but the query's."""
    rows = Detection.objects.select_related("camera").in_bulk([hit.detection_id for hit in hits])
    cards: list[CropCard] = []
    seen = {query_track}
    for hit in hits:
        # The database is the source of truth: a vector whose detection was deleted is skipped.
        row = rows.get(hit.detection_id)
        if row is None or row.track_id in seen:
            continue
        seen.add(row.track_id)
        cards.append(_card(row, objects, hit.score))
        if len(cards) == k:
            break
    return cards


def _card(detection: Detection, objects: ObjectStore, similarity: float | None = None) -> CropCard:
    url = objects.presigned_get_url(detection.object_key, CROP_URL_LIFETIME)
    return CropCard(detection, url, similarity)
