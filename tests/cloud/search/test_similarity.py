"""Track-level similar search on the embedded vector store, with fixed 3-d vectors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cloud.lib.vectorstore import (
    DetectionProperties,
    DimensionMismatch,
    Filters,
    InvalidRequest,
    VectorItem,
    VectorStore,
)
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings
from cloud.search import similarity
from cloud.search.similarity import TrackHit, similar_to_vector, track_query, track_vector

T0 = datetime(2026, 1, 1, tzinfo=UTC)

# (detection, track, camera, vector): track "a" is the query's; "b" has three crops near it,
# "c" one crop a little further, "d" points elsewhere.
CROPS = (
    ("a1", "a", "1", (1.0, 0.0, 0.0)),
    ("a2", "a", "1", (0.9, 0.1, 0.0)),
    ("b1", "b", "1", (0.95, 0.05, 0.0)),
    ("b2", "b", "1", (0.9, 0.2, 0.0)),
    ("b3", "b", "2", (0.8, 0.3, 0.0)),
    ("c1", "c", "2", (0.7, 0.7, 0.0)),
    ("d1", "d", "2", (0.0, 0.0, 1.0)),
)


def from_a1(
    store: VectorStore, *, filters: Filters | None = None, k: int = 20, min_score: float = -1.0
) -> list[TrackHit]:
    """Similar to crop a1, as the pages ask: its own track and the crop itself left out."""
    item = store.get("a1")
    assert item is not None
    return similar_to_vector(
        store,
        item.vector,
        k=k,
        filters=replace(filters or Filters(), exclude_ids=["a1"]),
        exclude_track="a",
        min_score=min_score,
    )


@pytest.fixture
def store() -> Iterator[VectorStore]:
    vectors = EmbeddedVectorStore(EmbeddedVectorStoreSettings(path=Path(":memory:")), dimension=3)
    vectors.ensure_collection()
    vectors.upsert(
        [
            VectorItem(
                detection,
                np.array(vector, np.float32),
                DetectionProperties("dev", camera, track, "person", T0 + timedelta(seconds=i)),
            )
            for i, (detection, track, camera, vector) in enumerate(CROPS)
        ]
    )
    yield vectors
    vectors.close()


def test_a_detection_query_gives_one_hit_per_other_track_best_crop_first(
    store: VectorStore,
) -> None:
    hits = from_a1(store, k=10)
    assert [(hit.track_id, hit.detection_id) for hit in hits] == [
        ("b", "b1"),
        ("c", "c1"),
        ("d", "d1"),
    ]
    assert hits[0].score == pytest.approx(0.95 / np.hypot(0.95, 0.05), abs=1e-6)
    assert all(-1.0 <= hit.score <= 1.0 for hit in hits)
    assert hits[0].properties.camera_id == "1"


def test_k_and_min_score_cut_the_list(store: VectorStore) -> None:
    assert [hit.track_id for hit in from_a1(store, k=1)] == ["b"]
    kept = from_a1(store, k=10, min_score=0.5)
    assert [hit.track_id for hit in kept] == ["b", "c"]


def test_filters_apply_to_every_crop(store: VectorStore) -> None:
    # Only camera 2: track b is found by its crop there, not by its better ones on camera 1.
    hits = from_a1(store, filters=Filters(camera_ids=["2"]))
    assert [(hit.track_id, hit.detection_id) for hit in hits] == [
        ("b", "b3"),
        ("c", "c1"),
        ("d", "d1"),
    ]
    assert from_a1(store, filters=Filters(camera_ids=[])) == []


def test_more_neighbours_are_fetched_when_one_track_fills_the_first_batch(
    store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One neighbour per wanted track: the first fetch (2 crops) holds only track b's crops.
    monkeypatch.setattr(similarity, "FETCH_PER_TRACK", 1)
    hits = similar_to_vector(store, [1.0, 0.0, 0.0], k=2, exclude_track="a")
    assert [hit.track_id for hit in hits] == ["b", "c"]


def test_a_track_query_uses_the_mean_of_its_crops(store: VectorStore) -> None:
    query = track_query(store, ["b1", "b2", "b3"])
    assert query is not None and query.track_id == "b"
    hits = similar_to_vector(store, query.vector, k=10, exclude_track=query.track_id)
    assert [hit.track_id for hit in hits] == ["a", "c", "d"]
    mean = track_vector([v for d, _, _, v in CROPS if d.startswith("b")], 3)
    assert np.linalg.norm(mean) == pytest.approx(1.0)
    assert hits[1].score == pytest.approx(
        float(mean @ (np.array([0.7, 0.7, 0.0]) / np.hypot(0.7, 0.7))), abs=1e-5
    )


def test_a_query_without_a_vector_gives_none(store: VectorStore) -> None:
    assert track_query(store, ["unknown"]) is None


def test_bad_queries_are_refused(store: VectorStore) -> None:
    with pytest.raises(InvalidRequest, match="tracks"):
        track_query(store, ["a1", "b1"])
    with pytest.raises(DimensionMismatch):
        similar_to_vector(store, [1.0, 0.0])
    with pytest.raises(InvalidRequest, match="zeros"):
        similar_to_vector(store, [0.0, 0.0, 0.0])
    with pytest.raises(InvalidRequest, match="k must be"):
        similar_to_vector(store, [1.0, 0.0, 0.0], k=0)
