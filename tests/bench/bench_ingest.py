"""Ingest benchmark: crops stored and acknowledged per second with 1, 8 and 64 devices at once.

    set -a; . .services/env; set +a      # the real services (python3 tests/services/manage.py up)
    uv run python -m tests.bench.bench_ingest [--devices 1,8,64] [--seconds 20] [--batch 16]

It runs the production ingest server (`python -m cloud ingest_grpc`) on a database, bucket and
Redis prefix of its own on the test services (PostgreSQL, SeaweedFS for S3, Redis as the Celery
broker the server queues embed tasks on), provisions the devices with real tokens, and drives it
with `tests.bench.ingest_load`: each device uploads crops cut from vtest.avi in batches, one
stream per batch, as the edge does. For every device count it reports the crops the server
acknowledged as STORED per second, the per-crop ack latency (p50, p99), the calls refused (for
example RESOURCE_EXHAUSTED when every upload slot is taken) and where the CPU went. Then it
checks by id that every acknowledged crop is in the database and in the object store exactly
once.

The baseline of the ratio column is the one-device rate of the same run. Not a pytest test; it
prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import cv2
import psycopg
from minio import Minio
from psycopg import sql

from demo.stack import DEFAULT_VIDEO, free_port, wait_for_ingest
from tests.bench.measure import load_average, machine_facts, percentiles
from tests.cloud.ingest.processes import Background, cloud_command, cloud_env, run_cloud
from tests.services import contract
from tests.services.contract import S3Server

logger = logging.getLogger("tests.bench.bench_ingest")

# Person-sized crops at the edge's JPEG quality: a 768x576 frame cut around the walkers.
CROP_BOXES = ((220, 180, 330, 330), (470, 140, 560, 260), (600, 250, 700, 420), (80, 300, 190, 480))
CROP_QUALITY = 90
PROVISION = """
import json, sys
from cloud.fleet.services import provision_device
from cloud.ingest.credentials import issue_token
out = []
for device_id in {ids!r}:
    provision_device(device_id, hardware_profile="x86-cpu", site="bench")
    out.append({{"device_id": device_id, "token": issue_token(device_id)}})
json.dump(out, sys.stdout)
"""


class BenchError(Exception):
    """The benchmark cannot run or its result is wrong; the message says why."""


def cut_crops(video: Path, folder: Path, frames: int = 16) -> int:
    """JPEG crops from the first `frames` frames of `video` into `folder`; their total bytes."""
    capture = cv2.VideoCapture(str(video))
    total = 0
    try:
        for index in range(frames):
            ok, frame = capture.read()
            if not ok:
                raise BenchError(f"{video} ended after {index} frames")
            for number, (x1, y1, x2, y2) in enumerate(CROP_BOXES):
                ok, data = cv2.imencode(
                    ".jpg", frame[y1:y2, x1:x2], [cv2.IMWRITE_JPEG_QUALITY, CROP_QUALITY]
                )
                path = folder / f"{index:03d}-{number}.jpg"
                path.write_bytes(data.tobytes())
                total += path.stat().st_size
    finally:
        capture.release()
    return total // (frames * len(CROP_BOXES))


class Storage:
    """A database, a bucket and a Redis prefix of this run's own; removed on close."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.name = f"bench_ingest_{secrets.token_hex(4)}"
        self._admin_url = contract.require(environ, contract.DATABASE_URL)
        with psycopg.connect(self._admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.database_url = self._admin_url.rsplit("/", 1)[0] + f"/{self.name}"
        self.s3 = S3Server.from_env(environ)
        self.bucket = self.name.replace("_", "-")
        self.client = Minio(self.s3.endpoint, self.s3.access_key, self.s3.secret_key, secure=False)
        self.client.make_bucket(self.bucket)
        self.redis_url = contract.require(environ, contract.REDIS_URL)

    def variables(self) -> dict[str, str]:
        """The cloud settings that point at this storage."""
        return {
            "SIGHTLINE_CLOUD_DATABASE_URL": self.database_url,
            "SIGHTLINE_CLOUD_OBJECT_STORE": "s3",
            "SIGHTLINE_CLOUD_S3_ENDPOINT": self.s3.endpoint,
            "SIGHTLINE_CLOUD_S3_BUCKET": self.bucket,
            "SIGHTLINE_CLOUD_S3_ACCESS_KEY": self.s3.access_key,
            "SIGHTLINE_CLOUD_S3_SECRET_KEY": self.s3.secret_key,
            "SIGHTLINE_CLOUD_S3_SECURE": "false",
            "SIGHTLINE_CLOUD_CELERY_BROKER_URL": self.redis_url,
            "SIGHTLINE_CLOUD_CELERY_KEY_PREFIX": f"{self.name}:",
            # The server only queues embed tasks; no vector store is touched.
            "SIGHTLINE_CLOUD_VECTOR_STORE": "embedded",
        }

    def count_rows(self, ids: Sequence[str]) -> int:
        """How many of `ids` have a Detection row (each id at most once: it is the key)."""
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM detections_detection WHERE id = ANY(%s)", (list(ids),)
            ).fetchone()
        return int(row[0]) if row else 0

    def count_objects(self) -> int:
        """Objects under crops/ in the bucket."""
        return sum(1 for _ in self.client.list_objects(self.bucket, "crops/", recursive=True))

    def close(self) -> None:
        for item in self.client.list_objects(self.bucket, recursive=True):
            self.client.remove_object(self.bucket, str(item.object_name))
        self.client.remove_bucket(self.bucket)
        with psycopg.connect(self._admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_leg(
    target: str,
    devices: list[dict[str, str]],
    crops: Path,
    seconds: float,
    batch: int,
    work: Path,
    server_pid: int,
) -> dict[str, Any]:
    """Drive the server with `devices` for `seconds`; the load generator's figures plus CPU."""
    devices_file = work / f"devices-{len(devices)}.json"
    devices_file.write_text(json.dumps(devices), encoding="utf-8")
    server_before = process_cpu_s(server_pid)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.ingest_load", "--target", target,
         "--devices", str(devices_file), "--crops", str(crops), "--seconds", str(seconds),
         "--batch", str(batch)],
        capture_output=True, text=True, check=False, timeout=seconds + 120,
    )  # fmt: skip
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise BenchError(f"load generator failed:\n{result.stderr}")
    load = json.loads(result.stdout)
    stored = load["acks"].get("ACK_STATUS_STORED", 0)
    return {
        "devices": len(devices),
        "seconds": round(load["seconds"], 2),
        "stored": stored,
        "crops_per_s": round(stored / load["seconds"], 1),
        "acks": load["acks"],
        "refused_calls": load["errors"],
        "ack_latency_s": percentiles(load["latencies"], (50, 99)) if load["latencies"] else {},
        "server_cores": round((process_cpu_s(server_pid) - server_before) / wall, 2),
        "stored_ids": load["stored"],
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    environ = dict(os.environ)
    counts = sorted({int(n) for n in args.devices.split(",")})
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        crops = work / "crops"
        crops.mkdir()
        crop_bytes = cut_crops(args.video, crops)
        storage = stack.enter_context(closing(Storage(environ)))
        port = free_port()
        env = cloud_env(
            {
                **storage.variables(),
                "SIGHTLINE_CLOUD_INGEST_ADDRESS": f"127.0.0.1:{port}",
                "SIGHTLINE_CLOUD_LOG_LEVEL": "WARNING",
            }
        )
        run_cloud(env, "migrate", "--noinput")
        ids = [f"bench-dev-{n:03d}" for n in range(1, max(counts) + 1)]
        provisioned = run_cloud(env, "shell", "--no-imports", "-c", PROVISION.format(ids=ids))
        devices = json.loads(provisioned)
        server = Background(cloud_command("ingest_grpc"), env, work / "ingest.log")
        stack.callback(server.stop)
        wait_for_ingest(port)
        legs = []
        for count in counts:
            logger.info("%d device(s) for %.0f s", count, args.seconds)
            legs.append(
                one_leg(
                    f"127.0.0.1:{port}",
                    devices[:count],
                    crops,
                    args.seconds,
                    args.batch,
                    work,
                    server.pid,
                )
            )
        stored = [crop for leg in legs for crop in leg.pop("stored_ids")]
        rows, objects = storage.count_rows(stored), storage.count_objects()
        if rows != len(stored) or objects != len(stored):
            raise BenchError(
                f"{len(stored)} crops acknowledged as stored, but {rows} rows and {objects} "
                "objects exist: a crop was lost or duplicated"
            )
    baseline = legs[0]["crops_per_s"] or 1.0
    for leg in legs:
        leg["ratio_to_one_device"] = round(leg["crops_per_s"] / baseline, 2)
    return {
        "machine": {**machine_facts(), "load_after": load_average()},
        "crop_bytes_mean": crop_bytes,
        "batch": args.batch,
        "legs": legs,
        "verified": {"acknowledged": len(stored), "rows": rows, "objects": objects},
    }


def render(result: Mapping[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"machine: {machine['cpus']} CPUs, {machine['cpu_model']}, "
        f"load after {machine['load_after']}",
        f"crops: {result['crop_bytes_mean']} bytes on average, {result['batch']} per stream",
        "",
        f"{'devices':>8} {'crops/s':>9} {'x 1 dev':>8} {'ack p50':>9} {'ack p99':>9} "
        f"{'server cores':>13}  refused calls",
    ]
    for leg in result["legs"]:
        latency = leg["ack_latency_s"]
        lines.append(
            f"{leg['devices']:>8} {leg['crops_per_s']:>9} {leg['ratio_to_one_device']:>8} "
            f"{latency.get('p50', 0):>8}s {latency.get('p99', 0):>8}s {leg['server_cores']:>13}  "
            f"{leg['refused_calls'] or '-'}"
        )
    verified = result["verified"]
    lines += [
        "",
        f"verified by id: {verified['acknowledged']} acknowledged as stored, {verified['rows']} "
        f"rows, {verified['objects']} objects",
        "",
        "definitions:",
        "  crops/s: crops acknowledged STORED per second of the leg (ingest server process on",
        "    the same 2 cores as PostgreSQL, SeaweedFS, Redis and the load generator).",
        "  ack latency: from handing a crop to gRPC to reading its ack, per crop.",
        "  server cores: CPU of the ingest server process / wall time of the leg.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_ingest")
    parser.add_argument("--devices", default="1,8,64", help="comma-separated device counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each leg")
    parser.add_argument("--batch", type=int, default=16, help="crops per upload stream")
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="source of the crops")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        result = benchmark(args)
    except (BenchError, contract.MissingVariable) as err:
        logger.error("%s", err)
        return 1
    sys.stdout.write(render(result) + "\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
