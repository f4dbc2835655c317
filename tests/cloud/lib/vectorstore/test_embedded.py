"""What the embedded store adds to the contract: persistence, processes, locks, its index."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cloud.lib.vectorstore import (
    CollectionNotFound,
    DetectionProperties,
    Filters,
    VectorItem,
    VectorStoreError,
    VectorStoreUnavailable,
)
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CAMERAS = ("cam-1", "cam-2", "cam-3")
LABELS = ("person", "car", "bicycle", "dog")


def open_store(path: Path | str, dimension: int = 4, **settings: float) -> EmbeddedVectorStore:
    """An embedded store on ``path`` with its collection ensured."""
    store = EmbeddedVectorStore(
        EmbeddedVectorStoreSettings(path=Path(path), **settings),  # type: ignore[arg-type]
        dimension=dimension,
    )
    store.ensure_collection()
    return store


def random_items(count: int, dimension: int, seed: int) -> list[VectorItem]:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dimension)).astype(np.float32)
    return [
        VectorItem(
            f"det-{n}",
            vectors[n],
            DetectionProperties(
                "dev-1", CAMERAS[n % 3], str(n), LABELS[n % 4], T0 + timedelta(seconds=n)
            ),
        )
        for n in range(count)
    ]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "vectors.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[EmbeddedVectorStore]:
    store = open_store(db_path)
    yield store
    store.close()


def test_it_persists_across_reopening(db_path: Path) -> None:
    first = open_store(db_path)
    first.upsert(random_items(3, 4, seed=1))
    first.close()

    reopened = open_store(db_path)
    try:
        assert reopened.count() == 3
        assert reopened.get("det-2") is not None
    finally:
        reopened.close()


def test_it_uses_wal_so_readers_do_not_block_the_writer(
    store: EmbeddedVectorStore, db_path: Path
) -> None:
    with sqlite3.connect(db_path) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()

    assert mode == "wal"


def test_another_process_sees_writes_and_writes_too(
    store: EmbeddedVectorStore, db_path: Path
) -> None:
    store.upsert(random_items(5, 4, seed=2))
    script = (
        "import sys, numpy as np;"
        "from datetime import datetime, UTC;"
        "from pathlib import Path;"
        "from cloud.lib.vectorstore import VectorItem, DetectionProperties;"
        "from cloud.lib.vectorstore.embedded import EmbeddedVectorStore as S,"
        " EmbeddedVectorStoreSettings as C;"
        "s = S(C(path=Path(sys.argv[1])), dimension=4); s.ensure_collection();"
        "seen = s.count();"
        "p = DetectionProperties('dev-2', 'cam-9', '1', 'car', datetime.now(UTC));"
        "s.upsert([VectorItem('from-child', np.array([0, 0, 1, 0], np.float32), p)]);"
        "s.close(); sys.stdout.write(str(seen))"
    )

    child = subprocess.run(
        [sys.executable, "-c", script, str(db_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    assert child.stdout == "5"
    assert store.count() == 6
    hits = store.query([0, 0, 1, 0], k=1, filters=Filters(camera_ids=["cam-9"]))
    assert [hit.detection_id for hit in hits] == ["from-child"]


def test_a_write_blocked_past_the_busy_timeout_is_transient(db_path: Path) -> None:
    store = open_store(db_path, busy_timeout_s=0.2)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(VectorStoreUnavailable, match="locked") as caught:
            store.upsert(random_items(1, 4, seed=3))
        assert time.monotonic() - started < 2.0
        assert not caught.value.permanent
        assert store.count() == 0, "readers still work while another process writes"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        store.close()


def test_memory_stores_work_and_are_private_to_their_instance() -> None:
    one, two = open_store(":memory:"), open_store(":memory:")
    try:
        one.upsert(random_items(2, 4, seed=4))

        assert one.count() == 2
        assert two.count() == 0
    finally:
        one.close()
        two.close()


def test_a_dropped_table_raises_collection_not_found(
    store: EmbeddedVectorStore, db_path: Path
) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute('DROP TABLE "items_Detection"')

    with pytest.raises(CollectionNotFound, match="ensure_collection"):
        store.count()


def test_close_is_idempotent_and_later_calls_fail(store: EmbeddedVectorStore) -> None:
    store.close()
    store.close()

    with pytest.raises(VectorStoreError, match="closed"):
        store.count()


def test_a_search_over_fewer_rows_than_the_cutoff_is_exact(db_path: Path) -> None:
    big = open_store(db_path, dimension=64)
    items = random_items(3000, 64, seed=5)
    big.upsert(items)
    query = np.random.default_rng(6).standard_normal(64)
    filters = Filters(
        camera_ids=["cam-1", "cam-3"],
        labels=["person", "car"],
        since=T0 + timedelta(seconds=100),
        exclude_ids=["det-120", "det-121"],
    )
    try:
        hits = big.query(query, k=25, filters=filters)
    finally:
        big.close()

    passing = [
        it
        for it in items
        if it.properties.camera_id in ("cam-1", "cam-3")
        and it.properties.label in ("person", "car")
        and it.properties.ts >= T0 + timedelta(seconds=100)
        and it.detection_id not in ("det-120", "det-121")
    ]
    unit_query = query / np.linalg.norm(query)
    scores = {
        it.detection_id: float(it.vector @ unit_query / np.linalg.norm(it.vector)) for it in passing
    }
    expected = sorted(scores, key=lambda detection_id: -scores[detection_id])[:25]
    assert [hit.detection_id for hit in hits] == expected
    for hit in hits:
        assert hit.score == pytest.approx(scores[hit.detection_id], abs=1e-5)


def brute_force(
    items: list[VectorItem], query: np.ndarray, k: int, keep: Callable[[VectorItem], bool]
) -> list[str]:
    """The exact top ``k`` ids among the items ``keep`` admits."""
    unit = query / np.linalg.norm(query)
    scores = {
        it.detection_id: float(it.vector @ unit / np.linalg.norm(it.vector))
        for it in items
        if keep(it)
    }
    return sorted(scores, key=lambda detection_id: -scores[detection_id])[:k]


def test_the_graph_search_keeps_recall_with_and_without_filters(db_path: Path) -> None:
    # No flat-search cutoff: every query below walks the HNSW graph.
    store = open_store(db_path, dimension=32, flat_search_cutoff=0)
    items = random_items(2000, 32, seed=7)
    store.upsert(items)
    queries = np.random.default_rng(8).standard_normal((10, 32))
    cases: list[tuple[Filters, Callable[[VectorItem], bool]]] = [
        (Filters(), lambda it: True),
        (Filters(labels=["person"]), lambda it: it.properties.label == "person"),
        # About 4 % pass (80 rows): ef is raised so that the walk still finds them.
        (
            Filters(camera_ids=["cam-2"], labels=["car"], since=T0 + timedelta(seconds=1000)),
            lambda it: it.properties.camera_id == "cam-2"
            and it.properties.label == "car"
            and it.properties.ts >= T0 + timedelta(seconds=1000),
        ),
    ]
    try:
        for filters, keep in cases:
            found = 0
            for query in queries:
                hits = store.query(query, k=10, filters=filters)
                assert all(keep(items[int(hit.detection_id[4:])]) for hit in hits)
                expected = brute_force(items, query, 10, keep)
                found += len({hit.detection_id for hit in hits} & set(expected))
            assert found / (10 * len(queries)) >= 0.95, filters
    finally:
        store.close()


def test_an_index_catches_up_with_writes_overwrites_and_deletes_of_another_store(
    db_path: Path,
) -> None:
    reader, writer = open_store(db_path), open_store(db_path)
    try:
        writer.upsert(random_items(20, 4, seed=9))
        assert reader.query([1, 0, 0, 0], k=50) != []  # builds the reader's index
        moved = VectorItem(
            "det-3",
            np.asarray([0, 0, 0, 1], np.float32),
            DetectionProperties("dev-2", "cam-7", "1", "bus", T0),
        )

        writer.upsert([moved])
        writer.delete(["det-4"])

        hits = reader.query([0, 0, 0, 1], k=50)
        assert len(hits) == 19
        assert hits[0].detection_id == "det-3"
        assert hits[0].score == pytest.approx(1.0, abs=1e-6)
        assert "det-4" not in {hit.detection_id for hit in hits}
        assert [
            h.detection_id
            for h in reader.query([0, 0, 0, 1], k=5, filters=Filters(camera_ids=["cam-7"]))
        ] == ["det-3"]
    finally:
        reader.close()
        writer.close()


def test_a_restart_loads_the_snapshot_and_catches_up_from_there(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = random_items(300, 8, seed=10)
    first = open_store(db_path, dimension=8)
    first.upsert(items[:200])
    first.query(items[0].vector, k=1)
    first.close()  # writes the snapshot of 200 rows
    writer = open_store(db_path, dimension=8)
    writer.upsert(items[200:])
    writer.delete(["det-0"])
    writer.close()

    caplog.set_level(logging.INFO, logger="cloud.lib.vectorstore.embedded_index")
    again = open_store(db_path, dimension=8)
    try:
        hits = again.query(items[250].vector, k=3)
        assert hits[0].detection_id == "det-250"
        assert "det-0" not in {hit.detection_id for hit in again.query(items[0].vector, k=5)}
        assert "200 rows loaded" in caplog.text
    finally:
        again.close()


def test_a_snapshot_of_other_graph_settings_is_ignored(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = random_items(50, 8, seed=11)
    first = open_store(db_path, dimension=8, hnsw_m=16)
    first.upsert(items)
    first.query(items[0].vector, k=1)
    first.close()

    caplog.set_level(logging.INFO, logger="cloud.lib.vectorstore.embedded_index")
    other = open_store(db_path, dimension=8, hnsw_m=8)
    try:
        assert other.query(items[7].vector, k=1)[0].detection_id == "det-7"
        assert "does not fit the settings" in caplog.text
    finally:
        other.close()


def test_overwriting_and_deleting_most_rows_compacts_the_graph(db_path: Path) -> None:
    store = open_store(db_path, dimension=8, flat_search_cutoff=0)
    try:
        store.upsert(random_items(100, 8, seed=12))
        store.query(np.ones(8), k=1)
        replaced = random_items(100, 8, seed=13)

        store.upsert(replaced)
        store.delete([f"det-{n}" for n in range(90, 100)])
        hits = store.query(replaced[5].vector, k=1)

        assert hits[0].detection_id == "det-5"
        assert hits[0].score == pytest.approx(1.0, abs=1e-6)
        assert store._index is not None
        assert store._index.size == 90, "110 dead nodes of 200 were dropped"
    finally:
        store.close()


def test_rows_of_the_former_exact_scan_table_are_moved(db_path: Path) -> None:
    with sqlite3.connect(db_path) as db:
        db.execute(
            'CREATE TABLE "vectors_Detection" (detection_id TEXT PRIMARY KEY, device_id TEXT,'
            " camera_id TEXT, track_id TEXT, label TEXT, ts_us INTEGER, vector BLOB)"
        )
        db.execute(
            'INSERT INTO "vectors_Detection" VALUES (?, ?, ?, ?, ?, ?, ?)',
            (
                "old-1",
                "dev-1",
                "cam-1",
                "3",
                "car",
                0,
                np.asarray([0, 1, 0, 0], np.float32).tobytes(),
            ),
        )

    store = open_store(db_path)
    try:
        assert [hit.detection_id for hit in store.query([0, 1, 0, 0], k=1)] == ["old-1"]
        with sqlite3.connect(db_path) as db:
            assert db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'vectors_Detection'"
            ).fetchone() == (0,)
    finally:
        store.close()


@pytest.mark.parametrize("cutoff", [0, 20_000])
def test_a_filter_naming_many_values_admits_exactly_those(db_path: Path, cutoff: int) -> None:
    store = open_store(db_path, dimension=8, flat_search_cutoff=cutoff)
    items = [
        VectorItem(
            f"det-{n}",
            np.eye(8, dtype=np.float32)[n % 8] + 0.1,
            DetectionProperties("dev-1", f"cam-{n % 10}", "1", "car", T0),
        )
        for n in range(100)
    ]
    store.upsert(items)
    wanted = ["cam-1", "cam-3", "cam-4", "cam-7", "cam-8", "cam-404"]
    try:
        hits = store.query(np.ones(8), k=100, filters=Filters(camera_ids=wanted))
        few = store.query(np.ones(8), k=100, filters=Filters(camera_ids=wanted[:2]))
    finally:
        store.close()

    assert sorted(int(hit.detection_id[4:]) for hit in hits) == [
        n for n in range(100) if f"cam-{n % 10}" in wanted
    ]
    assert {hit.properties.camera_id for hit in few} == {"cam-1", "cam-3"}
    assert len(few) == 20
