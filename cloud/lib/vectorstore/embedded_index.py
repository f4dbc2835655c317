"""The embedded store's in-memory search index: a faiss HNSW graph plus the filter columns.

SQLite stays the source of truth (``embedded.py``); this index is derived from it and is
rebuilt from it whenever it is missing or stale. Rows carry an ever-growing ``seq`` (SQLite
``AUTOINCREMENT``: an overwrite is a delete plus a new row), and every delete is logged with its
own ``seq``, so an index catches up by reading the rows and deletions past the last ones it
saw. That is how the web app sees the embed worker's writes without any message between them.

Per indexed row it keeps the vector and its graph links (inside faiss) and, in numpy, the row's
``seq``, an alive flag and the filter columns (camera, device and label as small integer codes,
the timestamp in microseconds): about ``dimension x 4 + M x 8 + 30`` bytes. Filters are
evaluated over those columns in numpy (a few milliseconds at a million rows). When few rows pass
(``flat_search_cutoff``) they are scored exactly; otherwise the graph is searched with a faiss
``IDSelectorBitmap`` that admits only passing rows, with ``ef`` raised in proportion to the
fraction that passes, because faiss stops its walk after ``ef`` candidates whether they pass or
not.

A snapshot (the faiss file plus one ``.npz`` of the columns, replaced together under a file
lock) lets a restart at a million rows load in seconds instead of rebuilding the graph.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

_CHUNK: Final = 10_000
"""Rows read from SQLite and added to the graph at a time while catching up."""

_SNAPSHOT_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class IndexParameters:
    """The accuracy and speed knobs (see ``EmbeddedVectorStoreSettings`` for their meaning)."""

    dimension: int
    m: int
    ef_construction: int
    ef_search: int
    flat_search_cutoff: int
    max_ef_search: int


@dataclass(frozen=True, slots=True)
class Selection:
    """What a query may return: the filters already translated to columns."""

    camera_ids: Sequence[str] | None
    device_ids: Sequence[str] | None
    labels: Sequence[str] | None
    since_us: int | None
    until_us: int | None
    excluded_seqs: Sequence[int]


class _Column:
    """A numpy array that grows by doubling, so appending a few rows is cheap."""

    def __init__(self, dtype: type[np.generic], values: npt.NDArray[Any] | None = None) -> None:
        self._data = np.zeros(1024, dtype) if values is None else values.astype(dtype)
        self.size = 0 if values is None else len(values)

    def append(self, values: npt.ArrayLike) -> None:
        array = np.asarray(values, dtype=self._data.dtype)
        needed = self.size + len(array)
        if needed > len(self._data):
            grown = np.zeros(max(needed, 2 * len(self._data)), self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : needed] = array
        self.size = needed

    @property
    def view(self) -> npt.NDArray[Any]:
        return self._data[: self.size]


class _Codes:
    """Strings of one filter column as int32 codes (few distinct cameras, devices, labels)."""

    def __init__(self, names: Sequence[str] = (), codes: npt.NDArray[Any] | None = None) -> None:
        self.names = list(names)
        self._lookup = {name: code for code, name in enumerate(self.names)}
        self.column = _Column(np.int32, codes)

    def append(self, values: Sequence[str]) -> None:
        codes = []
        for value in values:
            code = self._lookup.get(value)
            if code is None:
                code = self._lookup[value] = len(self.names)
                self.names.append(value)
            codes.append(code)
        self.column.append(codes)

    def matching(self, wanted: Sequence[str]) -> npt.NDArray[np.bool_]:
        codes = [self._lookup[name] for name in wanted if name in self._lookup]
        column = self.column.view
        if len(codes) <= 4:
            # A few comparisons beat np.isin (about 30 times faster for one code at 1M rows).
            mask = np.zeros(len(column), np.bool_)
            for code in codes:
                mask |= column == code
            return mask
        table = np.zeros(len(self.names), np.bool_)
        table[codes] = True
        matched: npt.NDArray[np.bool_] = table[column]
        return matched


class EmbeddedIndex:
    """HNSW graph and filter columns for one collection; not thread-safe (the store locks)."""

    def __init__(self, params: IndexParameters, snapshot: Path | None) -> None:
        self._params = params
        self._snapshot = snapshot
        self._reset()
        if snapshot is not None:
            with contextlib.suppress(FileNotFoundError):
                self._load(snapshot)

    def _reset(self) -> None:
        import faiss

        params = self._params
        self._graph = faiss.IndexHNSWFlat(params.dimension, params.m, faiss.METRIC_INNER_PRODUCT)
        self._graph.hnsw.efConstruction = params.ef_construction
        self._seqs = _Column(np.int64)
        self._alive = _Column(np.bool_)
        self._ts_us = _Column(np.int64)
        self._cameras = _Codes()
        self._devices = _Codes()
        self._labels = _Codes()
        self._dead = 0
        self.last_item_seq = 0
        self.last_removed_seq = 0
        self._unsaved = 0

    @property
    def size(self) -> int:
        """Rows in the graph, deleted ones included."""
        return self._seqs.size

    # -- catching up ----------------------------------------------------------------------

    def catch_up(self, db: sqlite3.Connection, items_table: str, removed_table: str) -> int:
        """Apply the rows and deletions committed since the last call; return how many.

        Runs inside the caller's read transaction, so both reads see one snapshot. The table
        names are unquoted (they follow the collection name pattern).
        """
        items, removed = f'"{items_table}"', f'"{removed_table}"'
        # sqlite_sequence holds the largest seq each AUTOINCREMENT table ever issued, which
        # (unlike max(seq)) never goes down when the newest rows are deleted.
        issued = dict(
            db.execute(
                "SELECT name, seq FROM sqlite_sequence WHERE name IN (?, ?)",
                (items_table, removed_table),
            ).fetchall()
        )
        top_item = issued.get(items_table, 0)
        top_removed = issued.get(removed_table, 0)
        if top_item < self.last_item_seq or top_removed < self.last_removed_seq:
            # The database was replaced under us (a restored backup, a new file): start over.
            logger.warning("vector index is ahead of its database: rebuilding it")
            self._reset()
        if top_item == self.last_item_seq and top_removed == self.last_removed_seq:
            return 0
        changed = 0
        while True:
            rows = db.execute(
                f"SELECT seq, device_id, camera_id, label, ts_us, vector FROM {items}"
                " WHERE seq > ? ORDER BY seq LIMIT ?",
                (self.last_item_seq, _CHUNK),
            ).fetchall()
            if not rows:
                break
            self._add(rows)
            changed += len(rows)
            if len(rows) >= _CHUNK:
                logger.info("vector index: %d rows indexed so far", self.size)
        for seq, item in db.execute(
            f"SELECT seq, item FROM {removed} WHERE seq > ? ORDER BY seq", (self.last_removed_seq,)
        ):
            self._remove(item)
            self.last_removed_seq = seq
            changed += 1
        self._unsaved += changed
        return changed

    def _add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        seqs, devices, cameras, labels, ts_us, blobs = zip(*rows, strict=True)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(
            len(rows), self._params.dimension
        )
        self._graph.add(vectors)
        self._seqs.append(seqs)
        self._alive.append(np.ones(len(rows), np.bool_))
        self._ts_us.append(ts_us)
        self._cameras.append(cameras)
        self._devices.append(devices)
        self._labels.append(labels)
        self.last_item_seq = int(seqs[-1])

    def _positions(self, seqs: Sequence[int]) -> npt.NDArray[np.intp]:
        """Graph positions of these seqs (rows are added in seq order, so seqs are sorted)."""
        wanted = np.asarray(seqs, dtype=np.int64)
        stored = self._seqs.view
        positions = np.searchsorted(stored, wanted)
        inside = positions < len(stored)
        found: npt.NDArray[np.intp] = positions[inside][stored[positions[inside]] == wanted[inside]]
        return found

    def _remove(self, seq: int) -> None:
        positions = self._positions([seq])
        alive = self._alive.view
        for position in positions:
            if alive[position]:
                alive[position] = False
                self._dead += 1

    @property
    def dead_fraction(self) -> float:
        """Share of graph nodes that are deleted or overwritten rows."""
        return self._dead / self.size if self.size else 0.0

    # -- searching ------------------------------------------------------------------------

    def _mask(self, selection: Selection) -> npt.NDArray[np.bool_]:
        mask = self._alive.view.copy()
        for codes, wanted in (
            (self._cameras, selection.camera_ids),
            (self._devices, selection.device_ids),
            (self._labels, selection.labels),
        ):
            if wanted is not None:
                mask &= codes.matching(wanted)
        ts_us = self._ts_us.view
        if selection.since_us is not None:
            mask &= ts_us >= selection.since_us
        if selection.until_us is not None:
            mask &= ts_us < selection.until_us
        mask[self._positions(selection.excluded_seqs)] = False
        return mask

    def search(
        self, query: npt.NDArray[np.float32], k: int, selection: Selection
    ) -> list[tuple[int, float]]:
        """Return up to ``k`` ``(seq, cosine)`` pairs that pass ``selection``, best first."""
        import faiss

        mask = self._mask(selection)
        passing = int(np.count_nonzero(mask))
        if passing == 0:
            return []
        if passing <= max(self._params.flat_search_cutoff, k):
            return self._exact(query, k, np.flatnonzero(mask))
        # faiss's bundled type stubs lag its module: these two attributes exist at run time.
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        fraction = passing / self.size
        ef = max(self._params.ef_search, k)
        params.efSearch = min(max(ef, int(ef / fraction)), max(self._params.max_ef_search, k))
        if passing < self.size:
            bitmap = np.packbits(mask, bitorder="little")
            selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
            params.sel = selector
        scores, positions = self._graph.search(query.reshape(1, -1), k, params=params)
        seqs = self._seqs.view
        return [
            (int(seqs[position]), float(score))
            for position, score in zip(positions[0], scores[0], strict=True)
            if position >= 0
        ]

    def _exact(
        self, query: npt.NDArray[np.float32], k: int, positions: npt.NDArray[np.intp]
    ) -> list[tuple[int, float]]:
        scores = self._vectors()[positions] @ query
        # argpartition is O(n); only the k survivors get sorted.
        best = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
        best = best[np.argsort(-scores[best], kind="stable")]
        seqs = self._seqs.view
        return [(int(seqs[positions[i]]), float(scores[i])) for i in best]

    def _vectors(self) -> npt.NDArray[np.float32]:
        """The graph's stored vectors as a numpy view (no copy)."""
        import faiss

        storage = faiss.downcast_index(self._graph.storage)
        flat = faiss.rev_swig_ptr(storage.get_xb(), self.size * self._params.dimension)  # type: ignore[attr-defined]
        return flat.reshape(self.size, self._params.dimension)

    # -- compaction and snapshots ---------------------------------------------------------

    def compact(self) -> None:
        """Rebuild the graph from the alive rows only (faiss HNSW cannot remove nodes)."""
        alive = np.flatnonzero(self._alive.view)
        vectors = self._vectors()[alive]  # fancy indexing copies, as the reset needs
        seqs, ts_us = self._seqs.view[alive].copy(), self._ts_us.view[alive].copy()
        columns = [
            [codes.names[code] for code in codes.column.view[alive]]
            for codes in (self._cameras, self._devices, self._labels)
        ]
        positions = (self.last_item_seq, self.last_removed_seq)
        logger.info("vector index: compacting %d rows to %d", self.size, len(alive))
        self._reset()
        self._graph.add(vectors)
        self._seqs.append(seqs)
        self._alive.append(np.ones(len(seqs), np.bool_))
        self._ts_us.append(ts_us)
        for (_, codes), values in zip(_named_codes(self), columns, strict=True):
            codes.append(values)
        self.last_item_seq, self.last_removed_seq = positions
        self._unsaved = len(seqs) or 1

    @property
    def unsaved(self) -> int:
        """Changes applied since the snapshot was last written or read."""
        return self._unsaved

    def save(self) -> None:
        """Write the snapshot (both files replaced under an exclusive lock)."""
        import faiss

        if self._snapshot is None:
            return
        graph_file, columns_file = _snapshot_files(self._snapshot)
        with _locked(self._snapshot, fcntl.LOCK_EX):
            temporary = graph_file.with_name(f"{graph_file.name}.{os.getpid()}.tmp")
            faiss.write_index(self._graph, str(temporary))
            columns_temporary = columns_file.with_name(f"{columns_file.name}.{os.getpid()}.tmp")
            arrays: dict[str, Any] = {  # Any: savez types its keywords loosely
                "format": np.asarray(_SNAPSHOT_FORMAT, dtype=np.int64),
                "parameters": np.asarray([self._params.dimension, self._params.m], np.int64),
                "positions": np.asarray(
                    [self.last_item_seq, self.last_removed_seq, self._dead], dtype=np.int64
                ),
                "seqs": self._seqs.view,
                "alive": self._alive.view,
                "ts_us": self._ts_us.view,
            }
            for name, codes in _named_codes(self):
                arrays[f"{name}_names"] = np.asarray(codes.names, dtype=str)
                arrays[f"{name}_codes"] = codes.column.view
            with columns_temporary.open("wb") as out:
                np.savez(out, **arrays)
            temporary.replace(graph_file)
            columns_temporary.replace(columns_file)
        self._unsaved = 0
        logger.info("vector index: snapshot of %d rows written to %s", self.size, graph_file)

    def _load(self, snapshot: Path) -> None:
        import faiss

        graph_file, columns_file = _snapshot_files(snapshot)
        with _locked(snapshot, fcntl.LOCK_SH):
            with np.load(columns_file) as columns:
                data = {name: columns[name] for name in columns.files}
            # read_index already returns the concrete class. (Wrapping it in downcast_index
            # would leave the owning proxy to the garbage collector, which frees the index.)
            graph = faiss.read_index(str(graph_file))
        expected = [self._params.dimension, self._params.m]
        if (
            not isinstance(graph, faiss.IndexHNSWFlat)
            or int(data["format"]) != _SNAPSHOT_FORMAT
            or data["parameters"].tolist() != expected
            or graph.ntotal != len(data["seqs"])
        ):
            logger.warning("vector index snapshot %s does not fit the settings: ignored", snapshot)
            return
        graph.hnsw.efConstruction = self._params.ef_construction
        self._graph = graph
        self._seqs = _Column(np.int64, data["seqs"])
        self._alive = _Column(np.bool_, data["alive"])
        self._ts_us = _Column(np.int64, data["ts_us"])
        self._cameras, self._devices, self._labels = (
            _Codes(data[f"{name}_names"].tolist(), data[f"{name}_codes"])
            for name in ("cameras", "devices", "labels")
        )
        self.last_item_seq, self.last_removed_seq, self._dead = (
            int(value) for value in data["positions"]
        )
        logger.info("vector index: %d rows loaded from %s", self.size, graph_file)


def _named_codes(index: EmbeddedIndex) -> Iterator[tuple[str, _Codes]]:
    yield "cameras", index._cameras
    yield "devices", index._devices
    yield "labels", index._labels


def _snapshot_files(snapshot: Path) -> tuple[Path, Path]:
    return snapshot.with_name(f"{snapshot.name}.faiss"), snapshot.with_name(f"{snapshot.name}.npz")


@contextlib.contextmanager
def _locked(snapshot: Path, mode: int) -> Iterator[None]:
    # flock, not a lock in memory: the web app and the embed worker are separate processes.
    with snapshot.with_name(f"{snapshot.name}.lock").open("a") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
