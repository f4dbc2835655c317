"""Similar search by track: the tracks (objects) whose crops look most like a query, best first.

A query is one stored crop (`similar_to_detection`), a whole track (`similar_to_track`: the
normalised mean of its crops' vectors) or a raw vector (`similar_to_vector`: an uploaded image
embedded by the same embedder). The results are tracks, not crops: the edge sends several
crops of one object (a first view, then better ones), and a list of ten crops of the same
person is no answer. A track's score is its best-matching crop's cosine similarity with the
query, in [-1, 1]: on the retrieval benchmark (`tests/bench/bench_retrieval.py`, "crop>track")
that ranks tracks slightly better than their mean vector does (person mAP 0.597 against 0.587
on the eval half of vtest.avi), and it needs no second look-up. The query's own track is never
among the results: its other crops are the same object.

Neighbours are fetched `FETCH_PER_TRACK` times `k` at a time, four times more each round when
tracks with many crops take up the nearest ones, until `k` tracks are found, the store has no
more matches or `MAX_K` neighbours were fetched.

`DEFAULT_THRESHOLD` is the score from which a hit is probably the same object; see its
docstring for where the number comes from. Callers own access control: they pass `Filters`
with the cameras the user may see, and every hit passes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

import numpy as np
import numpy.typing as npt

from cloud.lib.vectorstore import DetectionProperties, Filters, InvalidRequest, VectorStore
from cloud.lib.vectorstore.base import MAX_K, check_k, unit_vector

DEFAULT_THRESHOLD: Final = 0.90
"""Score from which a hit is the same object as the query about seven times out of ten.

Calibrated with `uv run python -m tests.bench.bench_retrieval` for the crop vectors of
`cloud.embeddings.crop_vector`: on person crops of the first half of vtest.avi, crop pairs
scoring at least 0.90 are 70% the same person (0.896 on the second half), pairs less than two
seconds apart left out. Nine in ten needs 0.945, which keeps almost no true match (recall
0.0002), so it would hide nearly everything. Depends on the embedding: recalibrate when
`cloud.embeddings` changes its vectors.
"""
FETCH_PER_TRACK: Final = 8
"""Neighbours fetched per wanted track on the first query (a track has a few crops)."""


@dataclass(frozen=True, slots=True)
class TrackHit:
    """One similar track: its best-matching crop and that crop's score."""

    track_id: str
    score: float
    """Cosine similarity of the track's best-matching crop with the query, in [-1, 1]."""
    detection_id: str
    """The track's crop that matched best."""
    properties: DetectionProperties
    """That crop's properties (camera, device, label, capture time)."""


def track_vector(vectors: Sequence[npt.ArrayLike], dimension: int) -> npt.NDArray[np.float32]:
    """The query vector of a track: the normalised mean of its crops' unit vectors.

    Raises `InvalidRequest` when `vectors` is empty or they cancel out.
    """
    rows = [unit_vector(vector, dimension) for vector in vectors]
    mean = np.mean(rows, axis=0) if rows else np.zeros(dimension)
    return unit_vector(mean, dimension)


def similar_to_vector(
    store: VectorStore,
    vector: npt.ArrayLike,
    *,
    k: int = 20,
    filters: Filters | None = None,
    exclude_track: str | None = None,
    min_score: float = -1.0,
) -> list[TrackHit]:
    """Up to `k` tracks most similar to `vector`, best first, one hit each.

    Only crops passing `filters` count; hits of `exclude_track` and below `min_score` are left
    out. Raises `InvalidRequest` for a bad `k`, `DimensionMismatch`/`InvalidRequest` for a bad
    vector, and whatever else the store raises (`VectorStoreUnavailable` included).
    """
    check_k(k)
    query = unit_vector(vector, store.dimension)
    fetch = min(MAX_K, k * FETCH_PER_TRACK)
    while True:
        hits = store.query(query, k=fetch, filters=filters)
        best: dict[str, TrackHit] = {}
        for hit in hits:  # best first: a track's first hit is its best crop
            track = hit.properties.track_id
            if hit.score < min_score:
                break
            if track != exclude_track and track not in best:
                best[track] = TrackHit(track, hit.score, hit.detection_id, hit.properties)
        exhausted = len(hits) < fetch or (bool(hits) and hits[-1].score < min_score)
        if len(best) >= k or exhausted or fetch == MAX_K:
            return list(best.values())[:k]
        fetch = min(MAX_K, fetch * 4)


def similar_to_detection(
    store: VectorStore,
    detection_id: str,
    *,
    k: int = 20,
    filters: Filters | None = None,
    min_score: float = -1.0,
) -> list[TrackHit] | None:
    """Up to `k` tracks most similar to one stored crop, other than its own track.

    None when the crop has no vector (not embedded yet, or the store was rebuilt). Raises as
    `similar_to_vector`.
    """
    item = store.get(detection_id)
    if item is None:
        return None
    return similar_to_vector(
        store,
        item.vector,
        k=k,
        filters=_excluding(filters, [detection_id]),
        exclude_track=item.properties.track_id,
        min_score=min_score,
    )


@dataclass(frozen=True)
class TrackQuery:
    """What searching by a whole track asks: its query vector, and what the results leave out."""

    vector: npt.NDArray[np.float32]
    """`track_vector` of the track's crops that have a vector."""
    track_id: str
    detection_ids: list[str]
    """Those crops."""


def track_query(store: VectorStore, detection_ids: Sequence[str]) -> TrackQuery | None:
    """The query of a whole track, given its crops' detection ids; None when none of them has
    a vector. Raises `InvalidRequest` when the crops belong to more than one track."""
    items = [item for item in map(store.get, detection_ids) if item is not None]
    if not items:
        return None
    tracks = {item.properties.track_id for item in items}
    if len(tracks) > 1:
        raise InvalidRequest(f"the crops belong to {len(tracks)} tracks, not one")
    return TrackQuery(
        track_vector([item.vector for item in items], store.dimension),
        tracks.pop(),
        [item.detection_id for item in items],
    )


def similar_to_track(
    store: VectorStore,
    detection_ids: Sequence[str],
    *,
    k: int = 20,
    filters: Filters | None = None,
    min_score: float = -1.0,
) -> list[TrackHit] | None:
    """Up to `k` tracks most similar to a whole track, given its crops' detection ids.

    The query is `track_query`; the results leave out the track of those crops. None when none
    of them has a vector. Raises as `track_query`, else as `similar_to_vector`.
    """
    query = track_query(store, detection_ids)
    if query is None:
        return None
    return similar_to_vector(
        store,
        query.vector,
        k=k,
        filters=_excluding(filters, query.detection_ids),
        exclude_track=query.track_id,
        min_score=min_score,
    )


def _excluding(filters: Filters | None, detection_ids: Sequence[str]) -> Filters:
    """`filters` that also leave out these detection ids (fewer wasted neighbours)."""
    filters = filters or Filters()
    return replace(filters, exclude_ids=[*filters.exclude_ids, *detection_ids])
