"""Vector search at scale: latency, recall against exact search, import rate, memory.

    uv run python -m tests.bench.bench_search_scale [--n 1000000] [--dimension 256]
        [--backend embedded|weaviate] [--clustered] [--queries 200] [--ef 64,128,256]
        [--setting KEY=VALUE ...]
    # Weaviate: the test services' server (python3 tests/services/manage.py up), then
    set -a; . .services/env; set +a

Builds ``--n`` detections with the properties search filters on (100 cameras on 20 devices,
four classes in the proportions 50/30/10/10, timestamps over 30 days) and random unit vectors
of ``--dimension`` values (the hardest case for a graph index: no structure to exploit), or
with ``--clustered`` vectors around 1,000 centres (closer to real crops). It imports them
through the `VectorStore` protocol, then runs three query sets of ``--queries`` each:

- ``camera_class_time``: one camera, one class, a 7-day window (about 0.6 per mille pass);
- ``class``: one class (10-50 % pass), which exercises the filtered graph search;
- ``unfiltered``.

For each it prints p50/p99 latency of `query(k=20)` and recall@20 against exact search
computed in numpy over the same vectors. The embedded store also reports the time to build its
index, its memory (growth of the process's resident set while the index is built, per million
objects), the time to write the index snapshot and to load it again (a restart), and, with
``--ef``, the figures for each ``ef_search``. Weaviate runs on a collection of the benchmark's
own, deleted at the end.

Not a pytest test; it prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from cloud.embeddings.spec import CROP_EMBEDDING_DIMENSION
from cloud.lib.vectorstore import (
    DetectionProperties,
    Filters,
    VectorItem,
    VectorStore,
    VectorStoreError,
    create_vector_store,
    parse_settings,
)
from tests.bench.measure import BenchError, load_average, machine_facts, percentiles, report

logger = logging.getLogger(__name__)

K = 20
CAMERAS = 100
CAMERAS_PER_DEVICE = 5
LABELS = ("person", "car", "truck", "bicycle")
LABEL_SHARES = (0.5, 0.3, 0.1, 0.1)
DAYS = 30
WINDOW_DAYS = 7
T0 = datetime(2026, 10, 1, tzinfo=UTC)
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class Dataset:
    """The generated objects, column by column; row ``i`` is detection ``det-{i}``."""

    vectors: npt.NDArray[np.float32]
    cameras: npt.NDArray[np.int16]
    labels: npt.NDArray[np.int8]
    offsets_us: npt.NDArray[np.int64]

    def items(self, start: int, stop: int) -> list[VectorItem]:
        return [
            VectorItem(
                f"det-{i}",
                self.vectors[i],
                DetectionProperties(
                    device_id=f"dev-{self.cameras[i] // CAMERAS_PER_DEVICE:02d}",
                    camera_id=f"cam-{self.cameras[i]:03d}",
                    track_id=str(i // 10),
                    label=LABELS[self.labels[i]],
                    ts=T0 + timedelta(microseconds=int(self.offsets_us[i])),
                ),
            )
            for i in range(start, stop)
        ]


def unit_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix


def make_dataset(n: int, dimension: int, clustered: bool, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    vectors = np.empty((n, dimension), np.float32)
    centres = unit_rows(rng.standard_normal((1000, dimension), np.float32))
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        chunk = rng.standard_normal((stop - start, dimension), np.float32)
        if clustered:
            # Crops of one object sit close together: a centre plus noise of a third its size.
            chunk = centres[rng.integers(0, len(centres), stop - start)] + chunk * (
                0.35 / np.sqrt(dimension)
            )
        vectors[start:stop] = unit_rows(chunk)
    return Dataset(
        vectors=vectors,
        cameras=rng.integers(0, CAMERAS, n).astype(np.int16),
        labels=rng.choice(len(LABELS), n, p=LABEL_SHARES).astype(np.int8),
        offsets_us=rng.integers(0, DAYS * _US_PER_DAY, n),
    )


@dataclass(frozen=True, slots=True)
class Query:
    vector: npt.NDArray[np.float32]
    filters: Filters
    expected: frozenset[str]


def query_sets(data: Dataset, count: int, clustered: bool, seed: int) -> dict[str, list[Query]]:
    """The three query sets, each query with its exact top ``K`` computed in numpy."""
    rng = np.random.default_rng(seed + 1)
    dimension = data.vectors.shape[1]
    sets: dict[str, list[Query]] = {"camera_class_time": [], "class": [], "unfiltered": []}
    for name, queries in sets.items():
        for _ in range(count):
            if clustered:
                # A crop of an object already seen: a stored vector plus noise.
                base = data.vectors[rng.integers(0, len(data.vectors))]
                noise = rng.standard_normal(dimension, np.float32)
                vector = base + noise * np.float32(0.35 / np.sqrt(dimension))
            else:
                vector = rng.standard_normal(dimension, np.float32)
            vector /= np.linalg.norm(vector)
            label = int(rng.choice(len(LABELS), p=LABEL_SHARES))
            mask: npt.NDArray[np.bool_] | None = None
            filters = Filters()
            if name == "class":
                filters = Filters(labels=[LABELS[label]])
                mask = data.labels == label
            elif name == "camera_class_time":
                camera = int(rng.integers(0, CAMERAS))
                start_us = int(rng.integers(0, (DAYS - WINDOW_DAYS) * _US_PER_DAY))
                stop_us = start_us + WINDOW_DAYS * _US_PER_DAY
                filters = Filters(
                    camera_ids=[f"cam-{camera:03d}"],
                    labels=[LABELS[label]],
                    since=T0 + timedelta(microseconds=start_us),
                    until=T0 + timedelta(microseconds=stop_us),
                )
                mask = (
                    (data.cameras == camera)
                    & (data.labels == label)
                    & (data.offsets_us >= start_us)
                    & (data.offsets_us < stop_us)
                )
            queries.append(Query(vector, filters, exact_top(data, vector, mask)))
    return sets


def exact_top(
    data: Dataset, vector: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_] | None
) -> frozenset[str]:
    rows = np.arange(len(data.vectors)) if mask is None else np.flatnonzero(mask)
    scores = np.empty(len(rows), np.float32)
    for start in range(0, len(rows), 200_000):
        chunk = rows[start : start + 200_000]
        scores[start : start + len(chunk)] = data.vectors[chunk] @ vector
    best = rows[np.argpartition(-scores, K - 1)[:K]] if len(rows) > K else rows
    return frozenset(f"det-{i}" for i in best)


def run_queries(store: VectorStore, sets: dict[str, list[Query]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, queries in sets.items():
        store.query(queries[0].vector, k=K, filters=queries[0].filters)  # warm up
        latencies, recalls = [], []
        for query in queries:
            started = time.perf_counter()
            hits = store.query(query.vector, k=K, filters=query.filters)
            latencies.append((time.perf_counter() - started) * 1000)
            found = {hit.detection_id for hit in hits}
            recalls.append(len(found & query.expected) / max(1, len(query.expected)))
        results[name] = {
            **{f"{key}_ms": value for key, value in percentiles(latencies, (50, 99)).items()},
            "recall_at_20": round(float(np.mean(recalls)), 4),
            "min_recall": round(float(np.min(recalls)), 4),
        }
    return results


def rss_bytes() -> int:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no VmRSS in /proc/self/status")


def import_all(store: VectorStore, data: Dataset, batch: int) -> float:
    """Upsert every object in batches; return objects per second."""
    started = time.perf_counter()
    n = len(data.vectors)
    for start in range(0, n, batch):
        store.upsert(data.items(start, min(n, start + batch)))
        if (start // batch) % 50 == 0:
            logger.info("imported %d of %d", min(n, start + batch), n)
    return n / (time.perf_counter() - started)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        overrides[key] = value
    return overrides


def bench_embedded(args: argparse.Namespace, data: Dataset, sets: dict[str, list[Query]]) -> Any:
    n = len(data.vectors)
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        raw = {"type": "embedded", "path": str(Path(folder) / "vectors.sqlite3")}
        settings = parse_settings({**raw, **parse_overrides(args.setting)})
        store = create_vector_store(settings, dimension=data.vectors.shape[1])
        store.ensure_collection()
        rate = import_all(store, data, args.batch)
        before = rss_bytes()
        started = time.perf_counter()
        store.query(data.vectors[0], k=1)  # builds the index from SQLite
        build_s = time.perf_counter() - started
        index_bytes = rss_bytes() - before
        started = time.perf_counter()
        store.close()  # writes the snapshot
        snapshot_write_s = time.perf_counter() - started
        files = sum(path.stat().st_size for path in Path(folder).iterdir())
        runs: dict[str, Any] = {}
        restart_s = 0.0
        for ef in args.ef or [settings.model_dump()["ef_search"]]:
            tuned = settings.model_copy(update={"ef_search": int(ef)})
            store = create_vector_store(tuned, dimension=data.vectors.shape[1])
            store.ensure_collection()
            started = time.perf_counter()
            store.query(data.vectors[0], k=1)  # loads the snapshot
            restart_s = time.perf_counter() - started
            runs[f"ef_search={ef}"] = run_queries(store, sets)
            store.close()
    return {
        "import_per_s": round(rate),
        "index_build_s": round(build_s, 1),
        "index_build_per_s": round(n / build_s),
        "index_memory_bytes_per_million": round(index_bytes / n * 1_000_000),
        "files_bytes_per_million": round(files / n * 1_000_000),
        "snapshot_write_s": round(snapshot_write_s, 1),
        "restart_first_query_s": round(restart_s, 2),
        "settings": settings.model_dump(mode="json"),
        "queries": runs,
    }


def bench_weaviate(args: argparse.Namespace, data: Dataset, sets: dict[str, list[Query]]) -> Any:
    url = os.environ.get("SIGHTLINE_WEAVIATE_URL")
    grpc_port = os.environ.get("SIGHTLINE_WEAVIATE_GRPC_PORT")
    if not url or not grpc_port:
        raise BenchError("set SIGHTLINE_WEAVIATE_URL and SIGHTLINE_WEAVIATE_GRPC_PORT")
    collection = f"BenchScale_{secrets.token_hex(4)}"
    raw = {"type": "weaviate", "url": url, "grpc_port": grpc_port, "collection": collection}
    settings = parse_settings({**raw, "timeout_s": 120, **parse_overrides(args.setting)})
    store = create_vector_store(settings, dimension=data.vectors.shape[1])
    try:
        store.ensure_collection()
        rate = import_all(store, data, args.batch)
        runs = {"default": run_queries(store, sets)}
    finally:
        store.close()
        drop_collection(settings.model_dump())
    return {
        "import_per_s": round(rate),
        "settings": settings.model_dump(mode="json", exclude={"api_key"}),
        "queries": runs,
    }


def drop_collection(settings: dict[str, Any]) -> None:
    """Delete the benchmark's own Weaviate collection."""
    import weaviate

    address = urlsplit(str(settings["url"]))
    client = weaviate.connect_to_custom(
        http_host=address.hostname or "",
        http_port=address.port or 80,
        http_secure=False,
        grpc_host=address.hostname or "",
        grpc_port=int(settings["grpc_port"]),
        grpc_secure=False,
        skip_init_checks=True,
    )
    try:
        client.collections.delete(settings["collection"])
    finally:
        client.close()


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    dimension = args.dimension or CROP_EMBEDDING_DIMENSION
    started = time.perf_counter()
    data = make_dataset(args.n, dimension, args.clustered, args.seed)
    sets = query_sets(data, args.queries, args.clustered, args.seed)
    logger.info("data and exact answers ready in %.1f s", time.perf_counter() - started)
    run = bench_embedded if args.backend == "embedded" else bench_weaviate
    result = run(args, data, sets)
    return {
        "backend": args.backend,
        "n": args.n,
        "dimension": dimension,
        "vectors": "clustered" if args.clustered else "random",
        "k": K,
        "queries_per_set": args.queries,
        "passing_camera_class_time_person": round(args.n / CAMERAS * 0.5 * WINDOW_DAYS / DAYS),
        "machine": machine_facts(),
        "load_average": load_average(),
        **result,
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"{result['backend']}: {result['n']:,} objects x {result['dimension']}-d "
        f"({result['vectors']} vectors), k={result['k']}, load {result['load_average']}",
        f"import {result['import_per_s']:,} objects/s",
    ]
    if "index_build_s" in result:
        lines.append(
            f"index build {result['index_build_s']} s ({result['index_build_per_s']:,}/s), "
            f"memory {result['index_memory_bytes_per_million'] / 2**20:,.0f} MiB per million, "
            f"files {result['files_bytes_per_million'] / 2**20:,.0f} MiB per million, "
            f"snapshot write {result['snapshot_write_s']} s, "
            f"restart {result['restart_first_query_s']} s"
        )
    for run, sets in result["queries"].items():
        for name, figures in sets.items():
            lines.append(
                f"{run:>16} {name:>18}: p50 {figures['p50_ms']:7.2f} ms  "
                f"p99 {figures['p99_ms']:7.2f} ms  recall@20 {figures['recall_at_20']:.3f} "
                f"(min {figures['min_recall']:.2f})"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="objects to import")
    parser.add_argument(
        "--dimension", type=int, default=0, help="vector length (default: the crop embedding's)"
    )
    parser.add_argument("--backend", choices=("embedded", "weaviate"), default="embedded")
    parser.add_argument("--clustered", action="store_true", help="clustered, not random vectors")
    parser.add_argument("--queries", type=int, default=200, help="queries per set")
    parser.add_argument("--batch", type=int, default=2000, help="objects per upsert call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ef",
        type=lambda text: text.split(","),
        default=None,
        help="embedded: comma-separated ef_search values to measure",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a store setting to override (repeatable)",
    )
    parser.add_argument("--workdir", default=None, help="folder for the embedded store's files")
    return report(benchmark, render, parser.parse_args(argv), failures=(VectorStoreError,))


if __name__ == "__main__":
    raise SystemExit(main())
