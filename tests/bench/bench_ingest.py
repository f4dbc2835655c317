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
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cv2
import psycopg

from demo.stack import DEFAULT_VIDEO, free_port, wait_for_ingest
from tests.bench import catch_up
from tests.bench.cpu_split import CpuSplit, listening_pid, postgres_backends
from tests.bench.measure import BenchError, load_average, machine_facts, percentiles, report
from tests.bench.storage import BenchStorage
from tests.cloud.ingest.processes import Background, cloud_command, cloud_env, run_cloud
from tests.services import contract

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


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children (the load generator of each leg)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


class Storage(BenchStorage):
    """The run's own database, bucket and Redis prefix, with what the ingest legs count."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ, "ingest")

    def variables(self) -> dict[str, str]:
        # The server only queues embed tasks; no vector store is touched.
        return {**super().variables(), "SIGHTLINE_CLOUD_VECTOR_STORE": "embedded"}

    def cpu_split(self, server_pids: list[int]) -> CpuSplit:
        """Where the CPU goes: the ingest server, this database's PostgreSQL backends, the S3
        server (shared with other clients of the test services)."""
        postmaster = listening_pid(urlsplit(self.database_url).port or 5432)
        s3 = listening_pid(int(self.s3.endpoint.rsplit(":", 1)[1]))
        return CpuSplit(
            {
                "server": lambda: server_pids,
                "postgres": lambda: (
                    postgres_backends(postmaster, self.name) if postmaster is not None else []
                ),
                "s3": lambda: [s3] if s3 is not None else [],
            }
        )

    def count_spooled(self, device_id: str, spooled: Mapping[str, list[Any]]) -> dict[str, int]:
        """How many of a device's spooled crops, tracks and events are stored (each id once:
        it is the key, or (device, seq) is unique)."""
        with psycopg.connect(self.database_url) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM detections_detection WHERE id = ANY(%s)),"
                " (SELECT count(*) FROM detections_track WHERE id = ANY(%s)),"
                " (SELECT count(*) FROM fleet_deviceevent WHERE device_id = %s AND seq = ANY(%s))",
                (spooled["crops"], spooled["tracks"], device_id, spooled["events"]),
            ).fetchone()
        assert counts is not None
        return dict(zip(("crops", "tracks", "events"), map(int, counts), strict=True))


def one_leg(
    target: str,
    devices: list[dict[str, str]],
    crops: Path,
    seconds: float,
    batch: int,
    work: Path,
    cpu: CpuSplit,
) -> dict[str, Any]:
    """Drive the server with `devices` for `seconds`; the load generator's figures plus CPU."""
    logger.info("%d device(s) for %.0f s", len(devices), seconds)
    devices_file = work / f"devices-{len(devices)}.json"
    devices_file.write_text(json.dumps(devices), encoding="utf-8")
    children_before = children_cpu_s()
    cpu.start()
    result = subprocess.run(
        [sys.executable, "-m", "tests.bench.ingest_load", "--target", target,
         "--devices", str(devices_file), "--crops", str(crops), "--seconds", str(seconds),
         "--batch", str(batch)],
        capture_output=True, text=True, check=False, timeout=seconds + 120,
    )  # fmt: skip
    cores = cpu.stop({"load generator": children_cpu_s() - children_before})
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
        "refusal_details": load["error_details"],
        "ack_latency_s": percentiles(load["latencies"], (50, 99)) if load["latencies"] else {},
        "cores": cores,
        "stored_ids": load["stored"],
    }


DRAIN = [sys.executable, "-m", "tests.bench.catch_up", "drain"]


def catch_up_leg(
    target: str,
    devices: list[dict[str, str]],
    crops: Path,
    minutes: float,
    work: Path,
    cpu: CpuSplit,
    storage: Storage,
) -> dict[str, Any]:
    """Fill one outbox per device with `minutes` of backlog, drain them all at once through the
    edge's sender (`tests.bench.catch_up`), and check every spooled id is stored once."""
    logger.info("%d device(s) catch up after %.0f minutes", len(devices), minutes)
    spooled = {}
    for device in devices:
        name = device["device_id"]
        out = work / f"spooled-{name}.json"
        subprocess.run(
            [sys.executable, "-m", "tests.bench.catch_up", "fill", "--outbox",
             str(work / f"outbox-{name}.sqlite"), "--device", name, "--crops", str(crops),
             "--minutes", str(minutes), "--out", str(out)],
            check=True, timeout=300,
        )  # fmt: skip
        spooled[name] = json.loads(out.read_text(encoding="utf-8"))
    start_at = time.time() + 3.0  # after every drainer has started and imported
    drainers = [
        subprocess.Popen(
            [
                *DRAIN,
                "--outbox",
                str(work / f"outbox-{device['device_id']}.sqlite"),
                "--target",
                target,
                # One argument: a token may start with "-".
                f"--token={device['token']}",
                "--start-at",
                str(start_at),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for device in devices
    ]
    time.sleep(max(start_at - time.time(), 0))
    cpu.start()
    outputs = [drainer.communicate(timeout=catch_up.DRAIN_LIMIT_S + 60)[0] for drainer in drainers]
    drained = [json.loads(output) for output in outputs]
    cores = cpu.stop({"edge senders": sum(r["cpu_s"] for r in drained)})
    for device, result in zip(devices, drained, strict=True):
        if (
            result["failures"]
            or any(result["left"].values())
            or any(result["dead_lettered"].values())
        ):
            raise BenchError(f"{device['device_id']} did not drain its outbox: {result}")
    crops_s = max(r["empty"]["crop"] for r in drained) - start_at
    records_s = max(r["empty"]["record"] for r in drained) - start_at
    crop_count = sum(len(s["crops"]) for s in spooled.values())
    record_count = sum(
        r["counters"]["record"]["acked"] + r["counters"]["record"]["duplicates"] for r in drained
    )
    stored = {name: storage.count_spooled(name, ids) for name, ids in spooled.items()}
    for name, ids in spooled.items():
        if stored[name] != {kind: len(ids[kind]) for kind in ("crops", "tracks", "events")}:
            counts = {kind: len(ids[kind]) for kind in ids}
            raise BenchError(f"{name}: spooled {counts}, but stored {stored[name]}")
    rate = crop_count / crops_s
    return {
        "devices": len(devices),
        "backlog_minutes": minutes,
        "crops": crop_count,
        "records": record_count,
        "crops_drained_s": round(crops_s, 1),
        "records_drained_s": round(records_s, 1),
        "crops_per_s": round(rate, 1),
        "catch_up_factor": round(rate / len(devices) / catch_up.CROPS_PER_S, 1),
        "duplicates": sum(r["counters"]["crop"]["duplicates"] for r in drained),
        "cores": cores,
        "stored_crops": [crop for ids in spooled.values() for crop in ids["crops"]],
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
        catch_up_counts = sorted({int(n) for n in args.catch_up.split(",") if n})
        ids = [f"bench-dev-{n:03d}" for n in range(1, max(counts) + 1)]
        ids += [f"bench-edge-{n:02d}" for n in range(1, max(catch_up_counts, default=0) + 1)]
        provisioned = run_cloud(env, "shell", "--no-imports", "-c", PROVISION.format(ids=ids))
        devices = json.loads(provisioned)
        edges = devices[max(counts) :]
        if args.servers > 1:
            # A deployment choice: one Python process serves about one core.
            env["SIGHTLINE_CLOUD_INGEST_SHARE_PORT"] = "true"
        servers = []
        for number in range(args.servers):
            servers.append(
                Background(cloud_command("ingest_grpc"), env, work / f"ingest{number}.log")
            )
            stack.callback(servers[-1].stop)
            wait_for_ingest(port)
        cpu = storage.cpu_split([server.pid for server in servers])
        target = f"127.0.0.1:{port}"
        legs = [
            one_leg(target, devices[:count], crops, args.seconds, args.batch, work, cpu)
            for count in counts
        ]
        catch_ups = [
            catch_up_leg(target, edges[:count], crops, args.backlog_minutes, work, cpu, storage)
            for count in catch_up_counts
        ]
        stored = [crop for leg in legs for crop in leg.pop("stored_ids")]
        drained = [crop for leg in catch_ups for crop in leg.pop("stored_crops")]
        rows, objects = storage.count_rows(stored), storage.count_objects()
        if rows != len(stored) or objects != len(stored) + len(drained):
            raise BenchError(
                f"{len(stored)} crops acknowledged as stored and {len(drained)} drained, but "
                f"{rows} rows and {objects} objects exist: a crop was lost or duplicated"
            )
    baseline = legs[0]["crops_per_s"] or 1.0
    for leg in legs:
        leg["ratio_to_one_device"] = round(leg["crops_per_s"] / baseline, 2)
    return {
        "machine": {**machine_facts(), "load_after": load_average()},
        "crop_bytes_mean": crop_bytes,
        "batch": args.batch,
        "servers": args.servers,
        "legs": legs,
        "catch_up": catch_ups,
        "verified": {
            "acknowledged": len(stored),
            "rows": rows,
            "drained": len(drained),
            "objects": objects,
        },
    }


CPU_COLUMNS = ("server", "load generator", "postgres", "s3", "rest", "machine")
CATCH_UP_CPU = ("server", "edge senders", "postgres", "s3", "rest", "machine")


def render(result: Mapping[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"machine: {machine['cpus']} CPUs, {machine['cpu_model']}, "
        f"load after {machine['load_after']}",
        f"crops: {result['crop_bytes_mean']} bytes on average, {result['batch']} per stream; "
        f"{result['servers']} ingest server process(es)",
        "",
        f"{'devices':>8} {'crops/s':>9} {'x 1 dev':>8} {'ack p50':>9} {'ack p99':>9}"
        + "".join(f" {name:>8.8}" for name in CPU_COLUMNS)
        + "  refused calls",
    ]
    for leg in result["legs"]:
        latency = leg["ack_latency_s"]
        lines.append(
            f"{leg['devices']:>8} {leg['crops_per_s']:>9} {leg['ratio_to_one_device']:>8} "
            f"{latency.get('p50', 0):>8}s {latency.get('p99', 0):>8}s"
            + "".join(f" {leg['cores'].get(name, 0):>8}" for name in CPU_COLUMNS)
            + f"  {leg['refused_calls'] or '-'}"
        )
    if result["catch_up"]:
        lines += [
            "",
            f"catch-up after an outage ({catch_up.CROPS_PER_S} crops/s and their records "
            "produced per device meanwhile):",
            f"{'devices':>8} {'minutes':>8} {'crops':>7} {'records':>8} {'crops s':>8} "
            f"{'rec. s':>7} {'crops/s':>8} {'factor':>7}"
            + "".join(f" {name:>8.8}" for name in CATCH_UP_CPU),
        ]
        for leg in result["catch_up"]:
            lines.append(
                f"{leg['devices']:>8} {leg['backlog_minutes']:>8} {leg['crops']:>7} "
                f"{leg['records']:>8} {leg['crops_drained_s']:>8} {leg['records_drained_s']:>7} "
                f"{leg['crops_per_s']:>8} {leg['catch_up_factor']:>7}"
                + "".join(f" {leg['cores'].get(name, 0):>8}" for name in CATCH_UP_CPU)
            )
    verified = result["verified"]
    lines += [
        "",
        f"verified by id: {verified['acknowledged']} acknowledged as stored, {verified['rows']} "
        f"rows; {verified['drained']} drained from outboxes (their tracks and events too); "
        f"{verified['objects']} objects",
        "",
        "definitions:",
        "  crops/s: crops acknowledged STORED per second of the leg (ingest server process on",
        "    the same 2 cores as PostgreSQL, SeaweedFS, Redis and the load generator).",
        "  ack latency: from handing a crop to gRPC to reading its ack, per crop.",
        "  server .. machine: cores kept busy on average during the leg (CPU seconds / wall",
        "    seconds) by the ingest server process(es), the load generator, the PostgreSQL",
        "    backends of the benchmark's database, the S3 server (SeaweedFS; shared, so other",
        "    clients count too), the rest of the machine (other sessions, Redis, the kernel) and",
        "    all of it.",
        "  catch-up: every device's outbox holds the backlog (its crops, a summary after each",
        "    and a final one per track, an event a minute); all drain at once through the edge's",
        "    Sender and Uplink. crops s / rec. s: until the crop / record lane was empty;",
        "    factor: crops/s per device over the rate they were produced at; edge senders: the",
        "    drain processes' own CPU.",
        "  refused calls: streams the server refused (RESOURCE_EXHAUSTED: every upload slot",
        "    taken); grpc.aio reports some refusals as INTERNAL 'Internal error from Core' when",
        "    the refusal arrives while it is still sending the stream's crops.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_ingest")
    parser.add_argument("--devices", default="1,8,64", help="comma-separated device counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each leg")
    parser.add_argument("--batch", type=int, default=16, help="crops per upload stream")
    parser.add_argument(
        "--servers",
        type=int,
        default=1,
        help="ingest server processes sharing the port (SO_REUSEPORT; a deployment choice)",
    )
    parser.add_argument(
        "--catch-up", default="1,8", help="comma-separated backlogged device counts ('' for none)"
    )
    parser.add_argument(
        "--backlog-minutes", type=float, default=10.0, help="length of the outage to catch up"
    )
    parser.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="source of the crops")
    return report(benchmark, render, parser.parse_args(argv), (contract.MissingVariable,))


if __name__ == "__main__":
    sys.exit(main())
