"""The edge side of the catch-up benchmark: an outbox full of an outage's backlog, drained.

    python -m tests.bench.catch_up fill --outbox FILE --device ID --crops DIR --minutes M --out F
    python -m tests.bench.catch_up drain --outbox FILE --target HOST:PORT --token T --start-at S

`fill` spools what one camera produces in `--minutes` (at the end-to-end rate: 2.6 crops/s,
two crops per track, a summary after each crop and a final one per track, and an event a
minute) into a new edge outbox, through the edge's own `edge.transport.spool`, and writes the
ids it spooled to `--out` as JSON. `drain` opens that outbox at `--start-at` (unix time, so
that several devices start together), runs the edge's real `Sender` and `Uplink` against the
ingest server until both lanes are empty, and prints one JSON object: when it started, when
each lane was empty, and the sender's counters. One process per device, as each device is a
box of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from uuid6 import uuid7

from edge.transport.outbox import Kind, Outbox, OutboxSettings
from edge.transport.sender import Sender
from edge.transport.spool import enqueue_crop, enqueue_record
from edge.transport.uplink import Uplink, UplinkSettings
from sightline.device.v1 import event_pb2, track_pb2
from tests.bench.ingest_load import crop_request

# The end-to-end benchmark's rate on vtest.avi (README: 84 crops of 42 tracks in 32.5 s).
CROPS_PER_S = 2.6
CROPS_PER_TRACK = 2
CAMERA = "bench-cam"
DRAIN_LIMIT_S = 900.0
_EMPTY_POLL_S = 0.02


def fill(args: argparse.Namespace) -> int:
    crops = [path.read_bytes() for path in sorted(Path(args.crops).glob("*.jpg"))]
    tracks = round(args.minutes * 60 * CROPS_PER_S / CROPS_PER_TRACK)
    start = datetime.now(UTC) - timedelta(minutes=args.minutes)
    spooled: dict[str, list[Any]] = {"crops": [], "tracks": [], "events": []}
    with Outbox(OutboxSettings(path=Path(args.outbox))) as outbox:
        for number in range(tracks):
            first_seen = start + timedelta(seconds=number * CROPS_PER_TRACK / CROPS_PER_S)
            track = track_pb2.TrackSummary(
                track_id=str(uuid7()), camera_id=CAMERA, label="person", box_count=0
            )
            track.first_seen.FromDatetime(first_seen)
            for index in range(CROPS_PER_TRACK):
                seen = first_seen + timedelta(seconds=index)
                request = crop_request(
                    args.device, crops[(number + index) % len(crops)], (768, 576),
                    track_id=track.track_id, frame_time=seen, score=0.6 + index / 10,
                )  # fmt: skip
                enqueue_crop(outbox, request)
                spooled["crops"].append(request.detection_id)
                track.last_seen.FromDatetime(seen)
                track.best_detection_id, track.best_score = request.detection_id, request.score
                track.box_count += 5
                enqueue_record(outbox, args.device, _copy(track))
            track.ended = True
            enqueue_record(outbox, args.device, _copy(track))
            spooled["tracks"].append(track.track_id)
            if number % round(60 * CROPS_PER_S / CROPS_PER_TRACK) == 0:
                event = event_pb2.Event(
                    name="bench.minute", severity=event_pb2.EVENT_SEVERITY_INFO, camera_id=CAMERA
                )
                event.time.FromDatetime(first_seen)
                enqueue_record(outbox, args.device, event)
                spooled["events"].append(event.key.seq)
    Path(args.out).write_text(json.dumps(spooled), encoding="utf-8")
    return 0


def _copy(track: track_pb2.TrackSummary) -> track_pb2.TrackSummary:
    copy = track_pb2.TrackSummary()
    copy.CopyFrom(track)
    return copy


def drain(args: argparse.Namespace) -> int:
    outbox = Outbox(OutboxSettings(path=Path(args.outbox)))
    uplink = Uplink(UplinkSettings(target=args.target, token=SecretStr(args.token)))
    stop = threading.Event()
    sender = Sender(outbox, {"record": uplink.records, "crop": uplink.crops}, stop)
    time.sleep(max(args.start_at - time.time(), 0))
    started = time.time()
    cpu_before = _own_cpu_s()
    sender.start()
    empty: dict[Kind, float] = {}
    deadline = time.monotonic() + DRAIN_LIMIT_S
    try:
        while len(empty) < 2 and time.monotonic() < deadline and not sender.failures():
            for kind in ("crop", "record"):
                if kind not in empty and outbox.depth(kind) == 0:
                    empty[kind] = time.time()
            time.sleep(_EMPTY_POLL_S)
    finally:
        stop.set()
        sender.wake()
        sender.join(30)
        uplink.close()
    result = {
        "started": started,
        "cpu_s": _own_cpu_s() - cpu_before,
        "empty": empty,
        "left": {kind: outbox.depth(kind) for kind in ("crop", "record")},
        "counters": {k: dataclasses.asdict(c) for k, c in sender.counters().items()},
        "failures": {k: str(e) for k, e in sender.failures().items()},
        "dead_lettered": outbox.dead_lettered(),
        "dropped": outbox.dropped(),
    }
    outbox.close()
    json.dump(result, sys.stdout)
    return 0


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.catch_up")
    commands = parser.add_subparsers(dest="command", required=True)
    filling = commands.add_parser("fill", help="spool an outage's backlog into a new outbox")
    filling.add_argument("--outbox", required=True)
    filling.add_argument("--device", required=True)
    filling.add_argument("--crops", required=True, help="folder of JPEG crops")
    filling.add_argument("--minutes", type=float, default=10.0)
    filling.add_argument("--out", required=True, help="JSON file of the spooled ids")
    draining = commands.add_parser("drain", help="deliver the outbox through the edge's sender")
    draining.add_argument("--outbox", required=True)
    draining.add_argument("--target", required=True)
    draining.add_argument("--token", required=True)
    draining.add_argument("--start-at", type=float, default=0.0)
    args = parser.parse_args(argv)
    return fill(args) if args.command == "fill" else drain(args)


if __name__ == "__main__":
    sys.exit(main())
