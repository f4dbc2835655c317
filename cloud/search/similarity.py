"""Similar search by track: the tracks (objects) whose crops look most like a query, best first.

A query is a vector (`similar_to_vector`): a stored crop's, a whole track's (`track_query`: the
normalised mean of its crops' vectors), or an uploaded image's embedded by the same embedder.
The results are tracks, not crops: the edge sends several crops of one object (a first view,
then better ones), and a list of ten crops of the same person is no answer. A track's score is
its best-matching crop's cosine similarity with the query, in [-1, 1]: on the retrieval
benchmark (`tests/bench/bench_retrieval.py`, "crop>track") that ranks tracks as well as their
mean vector does (person mAP 0.626 against 0.630 on the eval half of vtest.avi), and it needs
no second look-up. Averaging the query with its first hits (query expansion) gained nothing
there ("track>track crop+qe"), so a query is used as given.
The query's own track is never among the results: its other crops are the same object.

Neighbours are fetched `FETCH_PER_TRACK` times `k` at a time, four times more each round when
tracks with many crops take up the nearest ones, until `k` tracks are found, the store has no
more matches or `MAX_K` neighbours were fetched.

`DEFAULT_THRESHOLD` is the score from which a hit is probably the same object; see its
docstring for where the number comes from. Callers own access control: they pass `Filters`
with the cameras the user may see, and every hit passes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from cloud.lib.vectorstore import DetectionProperties, Filters, InvalidRequest, VectorStore
from cloud.lib.vectorstore.base import MAX_K, check_k, unit_vector

DEFAULT_THRESHOLD: Final = 0.88
"""Score from which a hit is the same object as the query about half the time.

Calibrated with `uv run python -m tests.bench.bench_retrieval` for the crop vectors of
`cloud.embeddings.crop_vector` (collection `DetectionV3`): on person crops of the first half of
vtest.avi, crop pairs scoring at least 0.88 are 49% the same person (57% on the second half),
and hold 4% of the same-person pairs (6%), pairs less than two seconds apart left out. Seven in
ten needs 0.92, which keeps 0.2% of them, so it would hide nearly everything. A lower bound:
pairs of one person on two visits that could not be told apart by eye count as misses.
Depends on the embedding: recalibrate when `cloud.embeddings` changes its vectors.
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
