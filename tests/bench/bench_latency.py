"""Frame-to-searchable latency on the real services: from a frame's capture to its crop's vector.

    set -a; . .services/env; set +a      # the real services (python3 tests/services/manage.py up)
    uv run python -m tests.bench.bench_latency [--seconds 60] [--video FILE]

The agent (`python -m edge run`) plays the video at its own frame rate (`source.realtime`), as a
camera delivers frames, so a detection's time (`Detection.ts`) is the wall-clock capture time of
its frame. It uploads to `python -m cloud ingest_grpc` on PostgreSQL and SeaweedFS; a Celery
`embed` worker on Redis writes the vectors to Weaviate (`Detection.embedded_at`). Everything runs
on this machine's cores, on a database, bucket, collection and Redis prefix of its own.

Reported, in seconds (the goal of the issue: p95 at most 2 s):

- searchable: per track, from the capture of the frame its first crop shows to that crop's
  vector, i.e. how soon an object can be found;
- first seen: per track, from the capture of its first detection to its first searchable crop
  (adds the agent's wait for a good first view, `crops.first_crop_after_s`);
- later crops: the better views that follow a track's first crop; by design they show the best
  frame of a window (up to `crops.emit_interval_s` old), so their age says how old the best view
  is, not how slow delivery is;
- the two halves of the first: capture to received by the ingest server, received to searchable.

Not a pytest test. It prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack, closing
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml

from demo.stack import DEFAULT_VIDEO, free_port, wait_for_ingest
from tests.bench.measure import BenchError, load_average, machine_facts, percentiles, report
from tests.bench.storage import BenchStorage
from tests.cloud.ingest.processes import (
    Background,
    celery_worker,
    cloud_command,
    cloud_env,
    run_cloud,
)
from tests.services import contract

logger = logging.getLogger("tests.bench.bench_latency")

REPO = Path(__file__).resolve().parents[2]
DEVICE_ID = "bench-latency-box"
POINTS = (50, 95, 99)
# Per track: the first crop by capture time (the one that made the track searchable), the
# capture of the track's first detection, and every crop's times.
CROPS = """
SELECT d.track_id, d.ts, d.received_at, d.embedded_at, t.first_seen
FROM detections_detection d JOIN detections_track t ON t.id = d.track_id
ORDER BY d.track_id, d.ts
"""


def edge_config(work: Path, video: Path, port: int) -> Path:
    config = {
        "device": {"id": DEVICE_ID, "site": "bench", "hardware_profile": "x86-cpu"},
        "detector": {
            "type": "ort",
            "model": {"manifest": str(REPO / "models" / "nanodet-g.toml")},
            "intra_op_threads": 2,
        },
        "cameras": [{"id": "lobby", "source": {"url": str(video), "fps": None, "realtime": True}}],
        "delivery": {
            "outbox": {"path": str(work / "outbox.sqlite3")},
            "uplink": {"target": f"127.0.0.1:{port}"},
            "drain_timeout_s": 120.0,
        },
    }
    path = work / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def wait_until_embedded(database_url: str, timeout_s: float) -> int:
    """Wait until every detection has its vector; return how many there are."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*), count(embedded_at) FROM detections_detection"
            ).fetchone()
            total, embedded = row if row else (0, 0)
            if total and total == embedded:
                return int(total)
            if time.monotonic() > deadline:
                raise BenchError(f"{embedded} of {total} crops embedded in {timeout_s:.0f} s")
            time.sleep(0.5)


def latencies(rows: list[tuple[str, datetime, datetime, datetime, datetime]]) -> dict[str, Any]:
    searchable, first_seen, later, to_ingest, to_vector = [], [], [], [], []
    seen_tracks: set[str] = set()
    for track_id, ts, received, embedded, track_first in rows:
        age = (embedded - ts).total_seconds()
        if track_id in seen_tracks:
            later.append(age)
            continue
        seen_tracks.add(track_id)
        searchable.append(age)
        first_seen.append((embedded - track_first).total_seconds())
        to_ingest.append((received - ts).total_seconds())
        to_vector.append((embedded - received).total_seconds())
    if not searchable:
        raise BenchError("no crop reached the cloud")
    return {
        "tracks": len(searchable),
        "crops": len(rows),
        "searchable_s": percentiles(searchable, POINTS),
        "first_seen_s": percentiles(first_seen, POINTS),
        "later_crops_s": percentiles(later, POINTS) if later else {},
        "capture_to_received_s": percentiles(to_ingest, POINTS),
        "received_to_searchable_s": percentiles(to_vector, POINTS),
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    environ = dict(os.environ)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        work = Path(tmp)
        storage = stack.enter_context(closing(BenchStorage(environ, "latency")))
        port = free_port()
        env = cloud_env(
            {**storage.variables(), "SIGHTLINE_CLOUD_INGEST_ADDRESS": f"127.0.0.1:{port}"}
        )
        run_cloud(env, "migrate", "--noinput")
        run_cloud(env, "provision_device", DEVICE_ID, "--hardware", "x86-cpu", "--site", "bench")
        token = run_cloud(env, "device_token", DEVICE_ID).strip()
        server = Background(cloud_command("ingest_grpc"), env, work / "ingest.log")
        stack.callback(server.stop)
        worker = Background(celery_worker("embed"), env, work / "worker.log")
        stack.callback(worker.stop)
        wait_for_ingest(port)
        worker.wait_for(r"ready\.")
        frames = round(args.seconds * 10)
        config = edge_config(work, args.video, port)
        logger.info("edge agent: %s in real time, %d frames", args.video.name, frames)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "edge", "run", "--config", str(config),
             "--max-frames", str(frames)],
            env={**environ, "SIGHTLINE_EDGE_DELIVERY__UPLINK__TOKEN": token},
            capture_output=True, text=True, check=False, timeout=args.seconds + 300,
        )  # fmt: skip
        if result.returncode != 0:
            raise BenchError(f"edge agent failed:\n{result.stderr[-3000:]}")
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        count = wait_until_embedded(storage.database_url, timeout_s=300)
        elapsed = time.monotonic() - started
        if count != summary["crops_sent"]:
            raise BenchError(f"the edge sent {summary['crops_sent']} crops, {count} are stored")
        with psycopg.connect(storage.database_url) as conn:
            rows = conn.execute(CROPS).fetchall()
    return {
        "machine": {**machine_facts(), "load_after": load_average()},
        "video": str(args.video),
        "frames": summary["frames"],
        "seconds": round(elapsed, 1),
        **latencies(rows),
    }


def render(result: Mapping[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"machine: {machine['cpus']} CPUs, {machine['cpu_model']}, "
        f"load after {machine['load_after']}",
        f"{result['frames']} frames in real time, {result['tracks']} tracks, "
        f"{result['crops']} crops, {result['seconds']} s",
        "",
        f"{'seconds':<34}" + "".join(f"{f'p{p}':>9}" for p in POINTS),
    ]
    for key, name in (
        ("searchable_s", "capture -> searchable (first crop)"),
        ("first_seen_s", "first detection -> searchable"),
        ("capture_to_received_s", "  capture -> received by ingest"),
        ("received_to_searchable_s", "  received -> searchable"),
        ("later_crops_s", "later, better crops: age when found"),
    ):
        values = result[key]
        lines.append(f"{name:<34}" + "".join(f"{values.get(f'p{p}', '-'):>9}" for p in POINTS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_latency")
    parser.add_argument("--seconds", type=float, default=60.0, help="video seconds to play")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="video file")
    return report(benchmark, render, parser.parse_args(argv), (contract.MissingVariable,))


if __name__ == "__main__":
    sys.exit(main())
