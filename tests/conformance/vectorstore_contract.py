"""The contract every `VectorStore` backend passes (the haystack document-store pattern).

A backend's test class subclasses `VectorStoreContract` and provides a `fresh_settings`
fixture: settings of a store whose collection does not exist yet; the fixture removes the
collection afterwards. The vectors are hand-made so that every expected score is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from cloud.lib.vectorstore import (
    MAX_K,
    CollectionMismatch,
    CollectionNotFound,
    DetectionProperties,
    DimensionMismatch,
    Filters,
    Hit,
    InvalidRequest,
    VectorItem,
    VectorStore,
    VectorStoreSettings,
    create_vector_store,
)

DIM = 4
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

# Unit vectors whose cosine similarity with QUERY is known exactly.
QUERY = [1.0, 0.0, 0.0, 0.0]
SCORES = {"same": 1.0, "close": 0.8, "near": 0.6, "orthogonal": 0.0, "opposite": -1.0}
VECTORS = {
    "same": [1.0, 0.0, 0.0, 0.0],
    "close": [0.8, 0.6, 0.0, 0.0],
    "near": [0.6, 0.0, 0.8, 0.0],
    "orthogonal": [0.0, 0.0, 0.0, 1.0],
    "opposite": [-1.0, 0.0, 0.0, 0.0],
}

StoreFactory = Callable[[int], VectorStore]


def props(
    camera: str = "cam-1",
    label: str = "person",
    minute: int = 0,
    device: str = "dev-1",
    track: str = "7",
    ts: datetime | None = None,
) -> DetectionProperties:
    return DetectionProperties(device, camera, track, label, ts or T0 + timedelta(minutes=minute))


def item(
    detection_id: str,
    vector: list[float],
    camera: str = "cam-1",
    label: str = "person",
    minute: int = 0,
    device: str = "dev-1",
    track: str = "7",
) -> VectorItem:
    vector_array = np.asarray(vector, dtype=np.float32)
    return VectorItem(detection_id, vector_array, props(camera, label, minute, device, track))


def ids(hits: list[Hit]) -> list[str]:
    return [hit.detection_id for hit in hits]


class VectorStoreContract:
    """Behaviour shared by all backends; see the module docstring for what subclasses add."""

    @pytest.fixture
    def fresh_settings(self) -> Iterator[VectorStoreSettings]:
        raise NotImplementedError("the backend's test class provides fresh_settings")

    @pytest.fixture
    def make_store(self, fresh_settings: VectorStoreSettings) -> Iterator[StoreFactory]:
        """Build stores of any dimension on the test's collection; closes them afterwards."""
        built: list[VectorStore] = []

        def make(dimension: int) -> VectorStore:
            built.append(create_vector_store(fresh_settings, dimension=dimension))
            return built[-1]

        yield make
        for store in built:
            store.close()

    @pytest.fixture
    def store(self, make_store: StoreFactory) -> VectorStore:
        store = make_store(DIM)
        store.ensure_collection()
        return store

    @pytest.fixture
    def five(self, store: VectorStore) -> VectorStore:
        """The store holding the five VECTORS, on two cameras, two labels, five minutes."""
        store.upsert(
            [
                item("same", VECTORS["same"], camera="cam-1", label="person", minute=0),
                item("close", VECTORS["close"], camera="cam-2", label="person", minute=1),
                item("near", VECTORS["near"], camera="cam-1", label="car", minute=2),
                item("orthogonal", VECTORS["orthogonal"], camera="cam-2", label="car", minute=3),
                item("opposite", VECTORS["opposite"], camera="cam-1", label="person", minute=4),
            ]
        )
        return store

    # -- lifecycle ---------------------------------------------------------------------

    def test_a_new_collection_is_empty(self, store: VectorStore) -> None:
        assert store.dimension == DIM
        assert store.count() == 0
        assert store.get("missing") is None
        assert store.query(QUERY, k=5) == []

    def test_ensure_collection_is_idempotent_and_keeps_the_data(
        self, five: VectorStore, make_store: StoreFactory
    ) -> None:
        five.ensure_collection()
        other = make_store(DIM)
        other.ensure_collection()

        assert five.count() == 5
        assert other.count() == 5
        assert ids(other.query(QUERY, k=1)) == ["same"]

    def test_stores_racing_to_create_the_collection_all_succeed(
        self, make_store: StoreFactory
    ) -> None:
        stores = [make_store(DIM) for _ in range(4)]

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda store: store.ensure_collection(), stores))

        stores[0].upsert([item("det-1", QUERY)])
        assert [store.count() for store in stores] == [1, 1, 1, 1]

    def test_a_store_of_another_dimension_is_refused(
        self, five: VectorStore, make_store: StoreFactory
    ) -> None:
        with pytest.raises(CollectionMismatch, match=f"{DIM}-d") as caught:
            make_store(DIM + 1).ensure_collection()

        assert caught.value.permanent

    def test_every_call_before_ensure_collection_raises_collection_not_found(
        self, make_store: StoreFactory
    ) -> None:
        store = make_store(DIM)

        calls: list[Callable[[], object]] = [
            store.count,
            lambda: store.get("a"),
            lambda: store.get_many(["a"]),
            lambda: store.query(QUERY),
            lambda: store.upsert([item("a", QUERY)]),
            lambda: store.delete(["a"]),
        ]
        for call in calls:
            with pytest.raises(CollectionNotFound, match="ensure_collection"):
                call()

    # -- writes ------------------------------------------------------------------------

    def test_upsert_then_get_returns_the_unit_vector_and_the_properties(
        self, store: VectorStore
    ) -> None:
        store.upsert([item("det-1", [3.0, 0.0, 4.0, 0.0], camera="cam-9", label="bus", track="12")])

        got = store.get("det-1")

        assert got is not None
        assert got.detection_id == "det-1"
        assert got.vector.dtype == np.float32
        np.testing.assert_allclose(got.vector, [0.6, 0.0, 0.8, 0.0], atol=1e-6)
        assert got.properties == props(camera="cam-9", label="bus", track="12")
        assert store.count() == 1

    def test_it_keeps_timestamps_as_utc_to_the_microsecond(self, store: VectorStore) -> None:
        local = datetime(2026, 11, 21, 14, 5, 6, 123456, tzinfo=timezone(timedelta(hours=2)))
        store.upsert([VectorItem("det-1", np.asarray(QUERY, np.float32), props(ts=local))])

        got = store.get("det-1")

        assert got is not None
        assert got.properties.ts == datetime(2026, 11, 21, 12, 5, 6, 123456, tzinfo=UTC)
        assert got.properties.ts.utcoffset() == timedelta(0)

    def test_upserting_an_id_again_overwrites_it(self, five: VectorStore) -> None:
        moved = [-0.6, 0.8, 0.0, 0.0]

        five.upsert([item("same", moved, camera="cam-3", label="dog", minute=9)])

        got = five.get("same")
        assert five.count() == 5
        assert got is not None
        np.testing.assert_allclose(got.vector, moved, atol=1e-6)
        assert got.properties == props(camera="cam-3", label="dog", minute=9)
        hits = five.query(QUERY, k=5)
        assert ids(hits) == ["close", "near", "orthogonal", "same", "opposite"]
        assert hits[3].score == pytest.approx(-0.6, abs=1e-5)
        assert ids(five.query(QUERY, k=5, filters=Filters(camera_ids=["cam-3"]))) == ["same"]

    def test_retrying_a_batch_leaves_one_copy_of_each_item(self, store: VectorStore) -> None:
        batch = [item(f"det-{n}", VECTORS[name]) for n, name in enumerate(VECTORS)]

        for _ in range(3):
            store.upsert(batch)

        assert store.count() == len(VECTORS)
        assert len(store.query(QUERY, k=50)) == len(VECTORS)

    def test_an_id_repeated_in_one_batch_keeps_its_last_item(self, store: VectorStore) -> None:
        first, second = VECTORS["same"], VECTORS["near"]

        store.upsert([item("det-1", first, label="person"), item("det-1", second, label="car")])

        got = store.get("det-1")
        assert store.count() == 1
        assert got is not None
        assert got.properties.label == "car"
        np.testing.assert_allclose(got.vector, second, atol=1e-6)

    def test_get_many_returns_the_stored_ones_of_those_ids(self, five: VectorStore) -> None:
        got = {item.detection_id: item for item in five.get_many(["near", "same", "never-stored"])}

        assert sorted(got) == ["near", "same"]
        np.testing.assert_allclose(got["near"].vector, VECTORS["near"], atol=1e-6)
        assert got["same"].properties == props(camera="cam-1", label="person", minute=0)
        assert five.get_many([]) == []
        with pytest.raises(InvalidRequest, match="at most"):
            five.get_many([f"det-{n}" for n in range(MAX_K + 1)])

    def test_delete_removes_those_ids_and_ignores_unknown_ones(self, five: VectorStore) -> None:
        five.delete(["same", "near", "never-stored"])
        five.delete(["same"])

        assert five.count() == 3
        assert five.get("same") is None
        assert five.get("close") is not None
        assert ids(five.query(QUERY, k=5)) == ["close", "orthogonal", "opposite"]

    def test_many_threads_can_write_and_read_at_once(self, store: VectorStore) -> None:
        def write(worker: int) -> int:
            for n in range(10):
                store.upsert([item(f"w{worker}-{n}", VECTORS["close"], track=str(worker))])
                store.query(QUERY, k=3)
            return store.count()

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(write, range(4)))

        assert store.count() == 40

    # -- bad requests ------------------------------------------------------------------

    def test_a_vector_of_the_wrong_dimension_is_refused(self, store: VectorStore) -> None:
        good = item("good", VECTORS["same"])
        bad = VectorItem("bad", np.ones(DIM + 1, np.float32), props())

        with pytest.raises(DimensionMismatch, match=f"{DIM} values") as caught:
            store.upsert([good, bad])
        with pytest.raises(DimensionMismatch):
            store.query(np.ones(DIM - 1, np.float32))

        assert caught.value.permanent
        assert "bad" in str(caught.value)
        assert store.count() == 0, "a batch with one bad item must write nothing"

    @pytest.mark.parametrize(
        "vector", [[0.0, 0.0, 0.0, 0.0], [1.0, float("nan"), 0.0, 0.0], [float("inf"), 0, 0, 0]]
    )
    def test_zero_and_non_finite_vectors_are_refused(
        self, store: VectorStore, vector: list[float]
    ) -> None:
        with pytest.raises(InvalidRequest):
            store.upsert([item("det-1", vector)])
        with pytest.raises(InvalidRequest):
            store.query(vector)

        assert store.count() == 0

    @pytest.mark.parametrize("k", [0, -1, 10_001])
    def test_k_out_of_range_is_refused(self, store: VectorStore, k: int) -> None:
        with pytest.raises(InvalidRequest, match="k must be"):
            store.query(QUERY, k=k)

    # -- queries -----------------------------------------------------------------------

    def test_query_orders_hits_by_cosine_similarity(self, five: VectorStore) -> None:
        hits = five.query(QUERY, k=5)

        assert ids(hits) == list(SCORES)
        for hit in hits:
            assert hit.score == pytest.approx(SCORES[hit.detection_id], abs=1e-5)
            assert -1.0 <= hit.score <= 1.0
        assert hits[2].properties == props(camera="cam-1", label="car", minute=2)

    def test_query_accepts_an_unnormalised_vector(self, five: VectorStore) -> None:
        hits = five.query([0.0, 0.0, 0.0, 250.0], k=1)

        assert ids(hits) == ["orthogonal"]
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)

    def test_query_returns_at_most_k_hits(self, five: VectorStore) -> None:
        assert ids(five.query(QUERY, k=2)) == ["same", "close"]

    def test_it_filters_by_camera(self, five: VectorStore) -> None:
        hits = five.query(QUERY, k=5, filters=Filters(camera_ids=["cam-2"]))

        assert ids(hits) == ["close", "orthogonal"]

    def test_it_filters_by_device(self, five: VectorStore) -> None:
        five.upsert([item("other-device", VECTORS["near"], device="dev-2")])

        assert ids(five.query(QUERY, k=9, filters=Filters(device_ids=["dev-2"]))) == [
            "other-device"
        ]
        assert len(five.query(QUERY, k=9, filters=Filters(device_ids=["dev-1"]))) == 5

    def test_it_filters_by_label_matching_whole_labels_only(self, five: VectorStore) -> None:
        five.upsert([item("light", VECTORS["close"], label="traffic light")])

        assert ids(five.query(QUERY, k=9, filters=Filters(labels=["car"]))) == [
            "near",
            "orthogonal",
        ]
        assert ids(five.query(QUERY, k=9, filters=Filters(labels=["traffic light"]))) == ["light"]
        assert five.query(QUERY, k=9, filters=Filters(labels=["traffic"])) == []

    def test_it_filters_by_time_with_since_inclusive_and_until_exclusive(
        self, five: VectorStore
    ) -> None:
        window = Filters(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))

        assert ids(five.query(QUERY, k=5, filters=window)) == ["close", "near"]
        assert ids(five.query(QUERY, k=5, filters=Filters(since=T0 + timedelta(minutes=4)))) == [
            "opposite"
        ]
        assert ids(five.query(QUERY, k=5, filters=Filters(until=T0 + timedelta(minutes=1)))) == [
            "same"
        ]

    def test_time_filters_compare_instants_across_time_zones(self, five: VectorStore) -> None:
        plus_two = timezone(timedelta(hours=2))
        since = (T0 + timedelta(minutes=3)).astimezone(plus_two)

        assert ids(five.query(QUERY, k=5, filters=Filters(since=since))) == [
            "orthogonal",
            "opposite",
        ]

    def test_it_excludes_ids(self, five: VectorStore) -> None:
        hits = five.query(QUERY, k=2, filters=Filters(exclude_ids=["same", "never-stored"]))

        assert ids(hits) == ["close", "near"]

    def test_filters_combine_with_and(self, five: VectorStore) -> None:
        filters = Filters(
            camera_ids=["cam-1", "cam-2"],
            labels=["person"],
            since=T0,
            until=T0 + timedelta(hours=1),
            exclude_ids=["same"],
        )

        assert ids(five.query(QUERY, k=5, filters=filters)) == ["close", "opposite"]

    def test_an_empty_camera_scope_matches_nothing(self, five: VectorStore) -> None:
        assert five.query(QUERY, k=5, filters=Filters(camera_ids=[])) == []
        assert five.query(QUERY, k=5, filters=Filters(labels=[])) == []
        assert five.query(QUERY, k=5, filters=Filters(since=T0, until=T0)) == []

    def test_a_filter_that_matches_nothing_returns_no_hits(self, five: VectorStore) -> None:
        assert five.query(QUERY, k=5, filters=Filters(camera_ids=["cam-404"])) == []
