"""Text search latency on PostgreSQL with many detections and their colours.

Run (needs the test services: ``set -a; . <services>/env; set +a``):
``nice -n 10 uv run python -m tests.bench.bench_text_scale --rows 1000000``

Creates a database of its own on the test PostgreSQL server (dropped afterwards), migrates it,
fills it with `--rows` detections (one track each, on 20 cameras over 30 days, 70% persons)
and a colours row per detection (colours drawn from a fixed-seed distribution like vtest.avi's:
mostly black, blue and grey, 4% red), ANALYZEs, then times `search_text` (the query as the text
page runs it, first page of 48) for the example queries, unfiltered and with a camera + time
filter. Prints p50/p99 in milliseconds and the query plan of the main query.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg

from tests.bench.django_database import bench_database
from tests.bench.measure import percentiles

COLOURS = ("black", "grey", "white", "red", "orange", "yellow", "green", "blue", "purple", "pink")
# Main-colour shares, roughly as the analyser finds them on vtest.avi's people and cars.
WEIGHTS = (0.45, 0.12, 0.08, 0.04, 0.01, 0.01, 0.03, 0.2, 0.02, 0.04)
QUERIES = ("man in a red jacket", "pedestrian", "white car", "woman in blue jeans")
CAMERAS = 20
DAYS = 30
T0 = datetime(2026, 10, 1, tzinfo=UTC)
DATABASE = "bench_text_scale"


def _fill(url: str, rows: int) -> list[int]:
    from cloud.fleet.models import Camera, Device, HardwareProfile
    from cloud.fleet.registry import ensure_site

    device = Device.objects.create(
        id="bench", site=ensure_site("bench"), hardware_profile=HardwareProfile.X86_CPU
    )
    cameras = [Camera.objects.create(device=device, edge_id=f"cam{i}").pk for i in range(CAMERAS)]
    rng = np.random.default_rng(9)
    span = DAYS * 86400
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        chunk = 100_000
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            seconds = rng.uniform(0, span, n)
            camera = rng.integers(0, CAMERAS, n)
            person = rng.random(n) < 0.7
            main = rng.choice(len(COLOURS), size=(n, 3), p=WEIGHTS)
            second = rng.choice(len(COLOURS), size=(n, 3), p=WEIGHTS)
            share = rng.uniform(0.3, 0.95, (n, 3))
            ids = [str(uuid.UUID(int=start + i + 1)) for i in range(n)]
            tracks = [str(uuid.UUID(int=(1 << 100) + start + i + 1)) for i in range(n)]
            times = [T0 + timedelta(seconds=float(s)) for s in seconds]
            labels = ["person" if p else "car" for p in person]
            with cursor.copy(
                "COPY detections_track (id, camera_id, label, first_seen, last_seen) FROM STDIN"
            ) as copy:
                for i in range(n):
                    copy.write_row((tracks[i], cameras[camera[i]], labels[i], times[i], times[i]))
            with cursor.copy(
                "COPY detections_detection (id, track_id, camera_id, device_id, ts, x_min, "
                "y_min, x_max, y_max, frame_width, frame_height, label, score, object_key, "
                "model_name, model_version, embed_attempts, embed_error, received_at) "
                "FROM STDIN"
            ) as copy:
                for i in range(n):
                    copy.write_row(
                        (ids[i], tracks[i], cameras[camera[i]], "bench", times[i], 0.1, 0.1,
                         0.2, 0.4, 768, 576, labels[i], 0.8, f"crops/{ids[i]}.jpg",
                         "nanodet-g", "1", 1, "", times[i])
                    )  # fmt: skip
            with cursor.copy(
                "COPY attributes_detectioncolours (detection_id, colour, colour_share, colour2, "
                "colour2_share, upper, upper_share, upper2, upper2_share, lower, lower_share, "
                "lower2, lower2_share) FROM STDIN"
            ) as copy:
                for i in range(n):
                    parts = []
                    for part in range(3):
                        if part and not person[i]:
                            parts += ["", 0.0, "", 0.0]
                            continue
                        first = share[i, part]
                        parts += [COLOURS[main[i, part]], first, COLOURS[second[i, part]],
                                  (1 - first) * 0.7]  # fmt: skip
                    copy.write_row((ids[i], *parts))
            conn.commit()
            print(f"  {start + n} rows", flush=True)
        cursor.execute("ANALYZE")
    return cameras


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="detections to create")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs per query")
    args = parser.parse_args()
    with bench_database(DATABASE) as url:
        started = time.perf_counter()
        cameras = _fill(url, args.rows)
        print(f"filled {args.rows} detections in {time.perf_counter() - started:.0f} s")
        _measure(cameras, args.repeat)
    return 0


def _measure(cameras: list[int], repeat: int) -> None:
    from django.db import connection

    from cloud.search.criteria import SearchCriteria
    from cloud.search.text import search_text
    from cloud.search.vocabulary import vocabulary

    words = vocabulary()
    week = SearchCriteria(
        camera_ids=frozenset(cameras[:2]),
        since=T0 + timedelta(days=10),
        until=T0 + timedelta(days=17),
    )
    for name, criteria in (("unfiltered", SearchCriteria()), ("2 cameras, 7 days", week)):
        for query in QUERIES:
            took = []
            for _ in range(repeat):
                started = time.perf_counter()
                page = search_text(query, criteria, words=words).top(0, 48)
                took.append((time.perf_counter() - started) * 1000)
            figures = percentiles(took, (50, 99))
            print(f"{name:18s} {query!r:24s} {len(page):3d} hits  p50 {figures['p50']:7.1f} ms"
                  f"  p99 {figures['p99']:7.1f} ms")  # fmt: skip
    # The plan of the first of the two queries "man in a red jacket" makes.
    ranked = search_text(QUERIES[0], SearchCriteria(), words=words).ranked[0]
    sql, params = ranked[:48].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS OFF) {sql}", params)
        print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    sys.exit(main())
