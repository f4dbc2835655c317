"""Track grid benchmark: the search grid's queries on PostgreSQL with a million detections.

    set -a; . .services/env; set +a      # the real services (python3 tests/services/manage.py up)
    uv run python -m tests.bench.bench_track_grid [--tracks 333334] [--crops-per-track 3]

It makes a database of its own on the test PostgreSQL, migrates it, fills it with a fleet (4
sites, 25 devices, 100 cameras, one camera group per site) and with tracks spread over 30 days
(70% person, 20% car, 10% bicycle; durations up to 10 minutes) with three crops each (a million
detections by default), written by SQL in one transaction. Then, in this process, it runs the
grid's query (`SearchCriteria.tracks`, one page of 48 through `page_of`) for filters a user
sets (none, one camera, a site, a class and a day, camera + class + day, a duration, the
oldest first, a deep page, a user label: marked, and with learned scores) and the filter
form (its class and camera choices), each
`--repeat` times, and reports p50 and p99 in milliseconds and the plan PostgreSQL chose
(EXPLAIN ANALYZE), so that a plan that scans instead of walking an index shows. The database
is dropped afterwards.

The baseline of the ratio column is the unfiltered first page of the same run. Not a pytest
test; it prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import psycopg
from django.db.models import QuerySet
from psycopg import sql

from tests.services import contract

START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
PAGE = 48


@contextmanager
def bench_database(environ: dict[str, str]) -> Iterator[str]:
    """A database of this run's own, dropped afterwards; yields its URL."""
    admin_url = contract.require(environ, contract.DATABASE_URL)
    name = f"bench_grid_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as admin:
            statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(statement.format(sql.Identifier(name)))


def fill(tracks: int, crops_per_track: int) -> None:
    """The fleet by the ORM, the tracks and detections by SQL (in one transaction)."""
    from django.db import connection, transaction

    from cloud.fleet.models import Camera, CameraGroup, Device, HardwareProfile
    from cloud.fleet.registry import ensure_site

    for s in range(4):
        site = ensure_site(f"site-{s}")
        group = CameraGroup.objects.create(site=site, name="entrances")
        for d in range(s, 25, 4):
            device = Device.objects.create(
                id=f"dev-{d}", site=site, hardware_profile=HardwareProfile.X86_CPU
            )
            for c in range(4):
                camera = Camera.objects.create(device=device, edge_id=f"cam-{c}")
                if c == 0:
                    group.cameras.add(camera)
    cameras = list(Camera.objects.order_by("pk").values_list("pk", "device_id"))
    span_s = DAYS * 24 * 3600
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_camera (n int PRIMARY KEY, pk int, device text) ON COMMIT DROP"
        )
        cursor.executemany(
            "INSERT INTO bench_camera VALUES (%s, %s, %s)",
            [(n, pk, device) for n, (pk, device) in enumerate(cameras)],
        )
        # Track i: camera i mod 100, a class by i mod 10, first seen spread evenly over the
        # days, a duration of (i * 7919 mod 600) seconds; its best crop is crop 0.
        cursor.execute(
            """
            INSERT INTO detections_track
                (id, camera_id, label, first_seen, last_seen, best_detection_id, path)
            SELECT md5('t' || i)::uuid::text, c.pk,
                   CASE WHEN i %% 10 < 7 THEN 'person' WHEN i %% 10 < 9 THEN 'car'
                        ELSE 'bicycle' END,
                   %(start)s + make_interval(secs => i * %(step)s),
                   %(start)s + make_interval(secs => i * %(step)s + (i::bigint * 7919) %% 600),
                   md5('d' || i || '-0')::uuid::text, '[]'::jsonb
            FROM generate_series(0, %(tracks)s - 1) AS i
            JOIN bench_camera c ON c.n = i %% %(cameras)s
            """,
            {"start": START, "step": span_s / tracks, "tracks": tracks, "cameras": len(cameras)},
        )
        cursor.execute(
            """
            INSERT INTO detections_detection
                (id, track_id, camera_id, device_id, ts, x_min, y_min, x_max, y_max,
                 frame_width, frame_height, label, score, object_key, context_key, model_name,
                 model_version, embed_attempts, embed_error, received_at)
            SELECT md5('d' || i || '-' || k)::uuid::text, t.id, t.camera_id, c.device,
                   t.first_seen + (t.last_seen - t.first_seen) * k / %(crops)s,
                   0.4, 0.3, 0.5, 0.7, 768, 576, t.label, 0.9 - k * 0.1,
                   'crops/x/' || i || '-' || k || '.jpg', '', 'nanodet-g', '1', 1, '', now()
            FROM generate_series(0, %(tracks)s - 1) AS i
            JOIN detections_track t ON t.id = md5('t' || i)::uuid::text
            JOIN bench_camera c ON c.n = i %% %(cameras)s
            CROSS JOIN generate_series(0, %(crops)s - 1) AS k
            """,
            {"tracks": tracks, "crops": crops_per_track, "cameras": len(cameras)},
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE detections_track")
        cursor.execute("VACUUM ANALYZE detections_detection")


def fill_labels(tracks: int) -> dict[str, int]:
    """Two user labels by SQL: "marked" with a positive on one track in 500 (of every class)
    and a negative on one in 5,000; "learned" with the same marks and a classifier score on
    the best crop of one track in ten (confidence spread over [0, 1), so half count). By name,
    their keys."""
    from django.db import connection

    from cloud.labels.models import Label

    labels = {name: Label.objects.create(name=name).pk for name in ("marked", "learned")}
    with connection.cursor() as cursor:
        for label in labels.values():
            cursor.execute(
                """
                INSERT INTO labels_mark (label_id, detection_id, value, at)
                SELECT %(label)s, md5('d' || i || '-0')::uuid::text,
                       CASE WHEN i %% 5000 = 0 THEN 'negative' ELSE 'positive' END, now()
                FROM generate_series(0, %(tracks)s - 1, 500) AS i
                """,
                {"label": label, "tracks": tracks},
            )
        cursor.execute(
            """
            INSERT INTO labels_score
                (label_id, detection_id, track_id, source, confidence, version, updated_at)
            SELECT %(label)s, md5('d' || i || '-0')::uuid::text, md5('t' || i)::uuid::text,
                   'classifier',
                   ((i::bigint * 7919) %% 1000) / 1000.0, 1, now()
            FROM generate_series(3, %(tracks)s - 1, 10) AS i
            """,
            {"label": labels["learned"], "tracks": tracks},
        )
        cursor.execute("VACUUM ANALYZE labels_mark")
        cursor.execute("VACUUM ANALYZE labels_score")
    return labels


def cases(
    labels: dict[str, int],
) -> tuple[dict[str, Callable[[], object]], dict[str, QuerySet[Any]]]:
    """What a user does on the grid, each a callable that runs it once, and the grid queries
    among them to explain."""
    from cloud.detections.labels import track_labels
    from cloud.fleet.models import Camera, CameraGroup
    from cloud.search.criteria import Order, SearchCriteria
    from cloud.search.forms import SearchForm
    from cloud.search.results import page_of

    camera = Camera.objects.order_by("pk").values_list("pk", flat=True)[0]
    site_cameras = frozenset(
        Camera.objects.filter(device__site_id="site-1").values_list("pk", flat=True)
    )
    group = CameraGroup.objects.get(site_id="site-2")
    day = (START + timedelta(days=12), START + timedelta(days=13))
    criteria = {
        "no filter": SearchCriteria(),
        "one camera": SearchCriteria(camera_ids=frozenset({camera})),
        "one site": SearchCriteria(camera_ids=site_cameras),
        "car on a day": SearchCriteria(labels=("car",), since=day[0], until=day[1]),
        "camera, bicycle, day": SearchCriteria(
            camera_ids=frozenset({camera}), labels=("bicycle",), since=day[0], until=day[1]
        ),
        "hour 3 weeks ago": SearchCriteria(
            since=START + timedelta(days=9), until=START + timedelta(days=9, hours=1)
        ),
        "at least 9 minutes": SearchCriteria(min_duration=timedelta(minutes=9)),
        "scoped to 10 cameras": SearchCriteria(
            visible_camera_ids=frozenset(Camera.objects.values_list("pk", flat=True)[:10])
        ),
        "user label, marked": SearchCriteria(user_labels=(labels["marked"],)),
        "user label, learned": SearchCriteria(user_labels=(labels["learned"],)),
        "user label, car, day": SearchCriteria(
            user_labels=(labels["learned"],), labels=("car",), since=day[0], until=day[1]
        ),
    }
    run: dict[str, Callable[[], object]] = {
        name: partial(_first_page, c) for name, c in criteria.items()
    }
    run["oldest first"] = lambda: page_of(SearchCriteria().tracks(Order.OLDEST), 1, PAGE)
    run["page 50"] = lambda: page_of(SearchCriteria().tracks(), 50, PAGE)
    run["class choices"] = track_labels
    run["form (choices)"] = lambda: str(SearchForm({}))
    run["form, group chosen"] = lambda: _group_page(group.pk)
    explain: dict[str, QuerySet[Any]] = {name: c.tracks() for name, c in criteria.items()}
    return run, explain


def _first_page(criteria: Any) -> object:
    from cloud.search.results import page_of

    return page_of(criteria.tracks(), 1, PAGE)


def _group_page(group: int) -> Any:
    """The first page for a camera group picked in the form: the form's queries and the grid's."""
    from cloud.search.forms import SearchForm
    from cloud.search.results import page_of

    form = SearchForm({"group": [str(group)]})
    assert form.is_valid(), form.errors
    return page_of(form.criteria().tracks(), 1, PAGE)


def measure(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    run()  # warm the plan cache and the buffers
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times), p99


def plan_summary(plan: str) -> str:
    """The plan's top node and every scan in it (which index, or a sequential scan), one line."""
    nodes = [line.strip().removeprefix("->").strip().split("  (")[0] for line in plan.splitlines()]
    scans = [node for node in nodes if "Scan" in node]
    return " > ".join([nodes[0], *scans])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_track_grid")
    parser.add_argument("--tracks", type=int, default=333_334)
    parser.add_argument("--crops-per-track", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    environ = dict(os.environ)
    with bench_database(environ) as url:
        os.environ["SIGHTLINE_CLOUD_DATABASE_URL"] = url
        os.environ.setdefault("SIGHTLINE_CLOUD_DEBUG", "1")
        os.environ["DJANGO_SETTINGS_MODULE"] = "cloud.settings"
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        fill(args.tracks, args.crops_per_track)
        labels = fill_labels(args.tracks)
        fill_s = time.perf_counter() - began
        from cloud.detections.models import Detection, Track

        counts = {"tracks": Track.objects.count(), "detections": Detection.objects.count()}
        print(f"filled {counts} in {fill_s:.0f} s", file=sys.stderr)
        runs, explains = cases(labels)
        results: dict[str, dict[str, Any]] = {}
        for name, run in runs.items():
            p50, p99 = measure(run, args.repeat)
            results[name] = {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}
        for name, queryset in explains.items():
            plan = queryset[: PAGE + 1].explain(analyze=True)
            results[name]["plan"] = plan_summary(plan)
            results[name]["plan_full"] = plan
        baseline = results["no filter"]["p50_ms"]
        print(f"{'case':24} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}  plan")
        for name, row in results.items():
            ratio = row["p50_ms"] / baseline if baseline else float("nan")
            print(
                f"{name:24} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {ratio:6.2f}  "
                f"{row.get('plan', '')}"
            )
        print(json.dumps({"counts": counts, "fill_s": round(fill_s, 1), "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
