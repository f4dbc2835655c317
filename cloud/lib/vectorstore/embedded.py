"""Zero-server vector store: SQLite rows plus an exact cosine search in numpy.

The demo runs the ingest worker and the web app as separate processes on one machine, so
the store must persist and be shared through a file: SQLite in WAL mode gives any number
of concurrent readers next to one writer. ``path=":memory:"`` gives a private in-process
store for unit tests (this family's in-memory backend: each such instance is its own store).

Search is an exact scan: the filters run in SQL on indexed columns, then numpy scores every
remaining vector. At demo scale (a few thousand crops) that is fast enough and, unlike an
approximate index, never misses a match or needs tuning. Its cost is reading
``rows x dimension x 4`` bytes per query: measured here (2 busy cores) about 0.3 s for 10,000
unfiltered 1280-d vectors and 1.4 s for 50,000, less in proportion when filters narrow the
rows. Past about ten thousand vectors, use Weaviate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from cloud.lib.vectorstore.base import (
    DetectionProperties,
    Filters,
    Hit,
    VectorItem,
    VectorStoreSettingsBase,
    check_dimension,
    check_k,
    cosine_score,
    prepare_batch,
    require_ready,
    unit_vector,
)
from cloud.lib.vectorstore.errors import (
    CollectionMismatch,
    CollectionNotFound,
    VectorStoreError,
    VectorStoreUnavailable,
)

logger = logging.getLogger(__name__)

MEMORY: Final = ":memory:"

_PROPERTY_COLUMNS: Final = "detection_id, device_id, camera_id, track_id, label, ts_us"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class EmbeddedVectorStoreSettings(VectorStoreSettingsBase):
    """Settings of the SQLite-backed store (``type: embedded``)."""

    type: Literal["embedded"] = "embedded"
    path: Path = Field(
        description='SQLite file holding the vectors (created with its folder), or ":memory:".'
    )
    busy_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="How long a write waits for another process's write before failing "
        "with VectorStoreUnavailable.",
    )


def _to_us(ts: datetime) -> int:
    # Integer microseconds since the epoch: exact, sortable, and indexable as a number.
    return (ts - _EPOCH) // _MICROSECOND


def _from_us(us: int) -> datetime:
    return _EPOCH + us * _MICROSECOND


def _properties(row: Sequence[Any]) -> DetectionProperties:
    _, device_id, camera_id, track_id, label, ts_us = row
    return DetectionProperties(device_id, camera_id, track_id, label, _from_us(ts_us))


class EmbeddedVectorStore:
    """``VectorStore`` kept in one SQLite file (see the module docstring for its limits)."""

    def __init__(self, settings: EmbeddedVectorStoreSettings, *, dimension: int) -> None:
        check_dimension(dimension)
        self._dimension = dimension
        self._collection = settings.collection
        # The collection name matches COLLECTION_NAME_PATTERN, so quoting it is enough.
        self._table = f'"vectors_{settings.collection}"'
        database = str(settings.path)
        if database != MEMORY:
            settings.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection guarded by a lock: sqlite3 connections must not be used by two
        # threads at once, and a :memory: database exists only inside its connection.
        # isolation_level=None leaves transactions to the explicit BEGINs below.
        self._lock = threading.Lock()
        with self._translate_errors():
            self._db = sqlite3.connect(
                database,
                timeout=settings.busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against process crashes in WAL mode; a power cut may lose
            # the last commits, which are derived data that re-running the embed tasks restores.
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._closed = False
        self._ready = False

    @property
    def dimension(self) -> int:
        """Length of every vector in this store."""
        return self._dimension

    @contextlib.contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as err:
            # sqlite3 reports a missing table only through its message.
            if str(err).startswith("no such table"):
                raise CollectionNotFound(
                    f"collection {self._collection!r} does not exist: call ensure_collection()"
                ) from err
            # Busy/locked past the timeout, I/O errors, a full disk: may pass on retry.
            raise VectorStoreUnavailable(f"embedded vector store: {err}") from err
        except sqlite3.Error as err:
            raise VectorStoreError(f"embedded vector store: {err}") from err

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        """Run one transaction under the lock; ``begin`` is ``BEGIN`` or ``BEGIN IMMEDIATE``."""
        with self._lock, self._translate_errors():
            if self._closed:
                raise VectorStoreError("the vector store is closed")
            self._db.execute(begin)
            try:
                yield self._db
            except BaseException:
                # SQLite may already have rolled back (a full disk does that).
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def ensure_collection(self) -> None:
        """Create the table, its indexes and the dimension record if missing."""
        name = self._collection
        # IMMEDIATE takes the write lock first, so two processes cannot both create.
        with self._transaction("BEGIN IMMEDIATE") as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sightline_collections"
                " (name TEXT PRIMARY KEY, dimension INTEGER NOT NULL) STRICT"
            )
            row = db.execute(
                "SELECT dimension FROM sightline_collections WHERE name = ?", (name,)
            ).fetchone()
            if row is not None and row[0] != self._dimension:
                raise CollectionMismatch(
                    f"collection {name!r} holds {row[0]}-d vectors, this store is "
                    f"{self._dimension}-d: use another collection name for another model"
                )
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {self._table} ("
                " detection_id TEXT PRIMARY KEY, device_id TEXT NOT NULL,"
                " camera_id TEXT NOT NULL, track_id TEXT NOT NULL, label TEXT NOT NULL,"
                " ts_us INTEGER NOT NULL, vector BLOB NOT NULL) STRICT"
            )
            for column in ("camera_id", "device_id", "label"):
                db.execute(
                    f'CREATE INDEX IF NOT EXISTS "{name}_{column}_ts"'
                    f" ON {self._table} ({column}, ts_us)"
                )
            db.execute(f'CREATE INDEX IF NOT EXISTS "{name}_ts" ON {self._table} (ts_us)')
            if row is None:
                db.execute(
                    "INSERT INTO sightline_collections (name, dimension) VALUES (?, ?)",
                    (name, self._dimension),
                )
                logger.info("created embedded collection %s (%d-d)", name, self._dimension)
        self._ready = True

    def upsert(self, items: Sequence[VectorItem]) -> None:
        """Insert or overwrite items in one transaction (all or nothing)."""
        batch = prepare_batch(items, self._dimension)
        require_ready(self._ready, self._collection)
        rows = [
            (
                item.detection_id,
                item.properties.device_id,
                item.properties.camera_id,
                item.properties.track_id,
                item.properties.label,
                _to_us(item.properties.ts),
                item.vector.tobytes(),
            )
            for item in batch
        ]
        with self._transaction("BEGIN IMMEDIATE") as db:
            db.executemany(
                f"INSERT INTO {self._table} ({_PROPERTY_COLUMNS}, vector)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (detection_id) DO UPDATE SET device_id = excluded.device_id,"
                " camera_id = excluded.camera_id, track_id = excluded.track_id,"
                " label = excluded.label, ts_us = excluded.ts_us, vector = excluded.vector",
                rows,
            )

    def delete(self, detection_ids: Iterable[str]) -> None:
        """Delete these ids; unknown ids are ignored."""
        rows = [(detection_id,) for detection_id in set(detection_ids)]
        require_ready(self._ready, self._collection)
        with self._transaction("BEGIN IMMEDIATE") as db:
            db.executemany(f"DELETE FROM {self._table} WHERE detection_id = ?", rows)

    def get(self, detection_id: str) -> VectorItem | None:
        """Return the stored item or ``None``."""
        require_ready(self._ready, self._collection)
        with self._transaction("BEGIN") as db:
            row = db.execute(
                f"SELECT {_PROPERTY_COLUMNS}, vector FROM {self._table} WHERE detection_id = ?",
                (detection_id,),
            ).fetchone()
        if row is None:
            return None
        vector = np.frombuffer(row[-1], dtype=np.float32).copy()
        return VectorItem(row[0], vector, _properties(row[:-1]))

    def query(
        self, vector: npt.ArrayLike, k: int = 10, filters: Filters | None = None
    ) -> list[Hit]:
        """Exact top-k by cosine similarity over the rows that pass ``filters``."""
        check_k(k)
        require_ready(self._ready, self._collection)
        query = unit_vector(vector, self._dimension)
        filters = filters or Filters()
        if filters.matches_nothing:
            return []
        where, params = _where(filters)
        # One read transaction: the scan and the property lookup see the same snapshot
        # even while another process writes.
        with self._transaction("BEGIN") as db:
            scanned = db.execute(
                f"SELECT rowid, vector FROM {self._table} WHERE {where}", params
            ).fetchall()
            if not scanned:
                return []
            matrix = np.frombuffer(b"".join(row[1] for row in scanned), dtype=np.float32)
            scores = matrix.reshape(len(scanned), self._dimension) @ query
            top = _top_k(scores, k)
            rowids = [scanned[i][0] for i in top]
            found = {
                row[0]: row[1:]
                for row in db.execute(
                    f"SELECT rowid, {_PROPERTY_COLUMNS} FROM {self._table}"
                    " WHERE rowid IN (SELECT value FROM json_each(?))",
                    (_json_list(rowids),),
                )
            }
        return [
            Hit(found[rowid][0], cosine_score(float(scores[i])), _properties(found[rowid]))
            for i, rowid in zip(top, rowids, strict=True)
        ]

    def count(self) -> int:
        """Number of stored items."""
        require_ready(self._ready, self._collection)
        with self._transaction("BEGIN") as db:
            (total,) = db.execute(f"SELECT count(*) FROM {self._table}").fetchone()
        return int(total)

    def close(self) -> None:
        """Close the SQLite connection; idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()


def _top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.intp]:
    """Indices of the ``k`` largest scores, largest first."""
    # argpartition is O(n); only the k survivors get sorted.
    candidates = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
    return candidates[np.argsort(-scores[candidates], kind="stable")]


def _json_list(values: Iterable[object]) -> str:
    # Lists travel as one JSON parameter read by json_each(): no per-value placeholders,
    # so no SQLITE_MAX_VARIABLE_NUMBER limit on exclude lists or camera scopes.
    return json.dumps(list(values))


def _where(filters: Filters) -> tuple[str, list[object]]:
    clauses = ["1"]
    params: list[object] = []
    for column, values in (
        ("camera_id", filters.camera_ids),
        ("device_id", filters.device_ids),
        ("label", filters.labels),
    ):
        if values is not None:
            clauses.append(f"{column} IN (SELECT value FROM json_each(?))")
            params.append(_json_list(values))
    if filters.since is not None:
        clauses.append("ts_us >= ?")
        params.append(_to_us(filters.since))
    if filters.until is not None:
        clauses.append("ts_us < ?")
        params.append(_to_us(filters.until))
    if filters.exclude_ids:
        clauses.append("detection_id NOT IN (SELECT value FROM json_each(?))")
        params.append(_json_list(filters.exclude_ids))
    return " AND ".join(clauses), params
