"""The load generator of the ingest benchmark: many devices uploading crops at once.

    python -m tests.bench.ingest_load --target HOST:PORT --devices FILE --crops DIR \
        --seconds S [--batch N]

`--devices` is a JSON list of {"device_id", "token"}; `--crops` a folder of JPEG files. Every
device runs as the edge's uplink does: one `UploadCrops` stream per batch of `--batch` crops,
each with a fresh UUIDv7, waiting for every ack before the next batch, backing off after a
refused call. All devices share one asyncio loop (grpc.aio), each with a connection of its
own, so the generator costs one process however many devices it simulates. It prints one JSON
object: acks by status, call errors by code, per-crop ack latency (from handing the request to
gRPC to reading its ack) and the ids acknowledged as stored, which the benchmark then looks for
in the database and the object store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from uuid6 import uuid7

from sightline.common.v1 import model_pb2
from sightline.ingest.v1 import ingest_pb2, ingest_pb2_grpc

# The edge's own retry policy is jittered exponential backoff; a fixed short pause is enough to
# keep a refused device from spinning while the figure stays comparable between runs.
_REFUSED_PAUSE_S = 0.2
_STATUS = {value: name for name, value in ingest_pb2.AckStatus.items()}


@dataclass
class Tally:
    """What all devices saw, added up."""

    acks: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    details: dict[str, str] = field(default_factory=dict)
    """The first detail of each error code."""
    latencies: list[float] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)


def crop_request(
    device_id: str,
    jpeg: bytes,
    shape: tuple[int, int],
    *,
    track_id: str | None = None,
    frame_time: datetime | None = None,
    score: float = 0.8,
) -> ingest_pb2.UploadCropsRequest:
    """One crop as an edge sends it: a person box inside a frame of `shape` (width, height),
    on a track of its own unless `track_id` says otherwise, captured now or at `frame_time`."""
    width, height = shape
    box = ingest_pb2.BoundingBox(x_min=0.30, y_min=0.35, x_max=0.36, y_max=0.55)
    request = ingest_pb2.UploadCropsRequest(
        detection_id=str(uuid7()),
        device_id=device_id,
        camera_id="bench-cam",
        track_id=track_id or str(uuid7()),
        box=box,
        crop_box=box,
        label="person",
        score=score,
        frame_size=ingest_pb2.FrameSize(width=width, height=height),
        jpeg=jpeg,
        model=model_pb2.ModelRef(name="nanodet-g", version="1"),
    )
    request.frame_time.FromDatetime(frame_time or datetime.now(UTC))
    return request


async def device(
    stub: Any,
    device_id: str,
    token: str,
    crops: Sequence[bytes],
    batch: int,
    deadline: float,
    tally: Tally,
) -> None:
    """Upload batch after batch until `deadline`."""
    metadata = (("authorization", f"Bearer {token}"),)
    turn = 0
    while time.monotonic() < deadline:
        requests = [
            crop_request(device_id, crops[(turn + i) % len(crops)], (768, 576))
            for i in range(batch)
        ]
        turn += batch
        handed: dict[str, float] = {}
        call: Any = stub.UploadCrops(
            _timed(requests, handed),
            metadata=metadata,
            timeout=30,
        )
        try:
            async for ack in call:
                tally.latencies.append(time.perf_counter() - handed[ack.detection_id])
                status = _STATUS.get(ack.status, str(ack.status))
                tally.acks[status] += 1
                if ack.status == ingest_pb2.ACK_STATUS_STORED:
                    tally.stored.append(ack.detection_id)
        except grpc.aio.AioRpcError as err:
            tally.errors[err.code().name] += 1
            tally.details.setdefault(err.code().name, err.details() or "")
            await asyncio.sleep(_REFUSED_PAUSE_S)


async def _timed(
    items: list[ingest_pb2.UploadCropsRequest], handed: dict[str, float]
) -> AsyncIterator[ingest_pb2.UploadCropsRequest]:
    """Yield `items`, noting in `handed` when each is given to gRPC."""
    for item in items:
        handed[item.detection_id] = time.perf_counter()
        yield item


async def run(args: argparse.Namespace) -> Tally:
    devices = json.loads(Path(args.devices).read_text(encoding="utf-8"))
    crops = [path.read_bytes() for path in sorted(Path(args.crops).glob("*.jpg"))]
    tally = Tally()
    # A connection per device, as every device has: several server processes sharing the port
    # (SO_REUSEPORT) are handed connections, not calls.
    channels = [grpc.aio.insecure_channel(args.target) for _ in devices]
    try:
        deadline = time.monotonic() + args.seconds
        await asyncio.gather(
            *(
                device(
                    ingest_pb2_grpc.IngestServiceStub(channel),
                    d["device_id"],
                    d["token"],
                    crops,
                    args.batch,
                    deadline,
                    tally,
                )
                for d, channel in zip(devices, channels, strict=True)
            )
        )
    finally:
        for channel in channels:
            await channel.close(None)
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.ingest_load")
    parser.add_argument("--target", required=True)
    parser.add_argument("--devices", required=True, type=Path)
    parser.add_argument("--crops", required=True, type=Path)
    parser.add_argument("--seconds", required=True, type=float)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args(argv)
    started = time.monotonic()
    tally = asyncio.run(run(args))
    json.dump(
        {
            "seconds": time.monotonic() - started,
            "acks": dict(tally.acks),
            "errors": dict(tally.errors),
            "error_details": tally.details,
            "latencies": tally.latencies,
            "stored": tally.stored,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
