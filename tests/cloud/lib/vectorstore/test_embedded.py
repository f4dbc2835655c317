"""What the embedded store adds to the contract: persistence, processes, locks, exactness."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
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
        db.execute('DROP TABLE "vectors_Detection"')

    with pytest.raises(CollectionNotFound, match="ensure_collection"):
        store.count()


def test_close_is_idempotent_and_later_calls_fail(store: EmbeddedVectorStore) -> None:
    store.close()
    store.close()

    with pytest.raises(VectorStoreError, match="closed"):
        store.count()


def test_search_is_exact_against_a_brute_force_ranking(db_path: Path) -> None:
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
