"""Retention of heartbeat history: raw samples for `raw_retention_h`, then roll-ups.

`roll_up(now)` (Celery beat, every `rollup_interval_s`) folds the samples of every whole
`rollup_s` bucket that has aged past the raw retention into one `HealthRollup` row per device
and bucket, deletes those samples in the same transaction, and deletes roll-ups older than
`rollup_retention_days`. A bucket is folded once: its rows are inserted with ignore_conflicts
on (device, bucket), so a pass that runs twice (or after a crash between insert and delete,
which the transaction rules out anyway) never counts a sample twice.

Work per pass is bounded by `max_buckets`, so a cloud that was down for days catches up over
several passes instead of one huge transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.db import transaction

from cloud.monitoring.config import MonitoringSettings
from cloud.monitoring.models import HealthRollup, HeartbeatSample

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_N = TypeVar("_N", int, float)


def bucket_start(moment: datetime, bucket_s: int) -> datetime:
    """The start of the `bucket_s` bucket holding `moment` (buckets count from the epoch)."""
    seconds = int((moment - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=seconds - seconds % bucket_s)


@dataclass
class _Bucket:
    """Running aggregates of one device's samples in one bucket."""

    samples: int = 0
    fps: list[float] = field(default_factory=list)
    fps_ratio: float | None = None
    latency_p95_ms: float | None = None
    detections: int = 0
    errors_total: int = 0
    outbox_rows: int = 0
    dropped_total: int = 0
    dead_letters_total: int = 0
    disk_free_bytes: int | None = None
    temperature_celsius: float | None = None

    def add(self, row: dict[str, Any]) -> None:
        self.samples += 1
        if row["infer_fps"] is not None:
            self.fps.append(row["infer_fps"])
        self.fps_ratio = _lowest(self.fps_ratio, row["fps_ratio"])
        self.latency_p95_ms = _highest(self.latency_p95_ms, row["latency_p95_ms"])
        self.detections += row["detections"]
        self.errors_total = max(self.errors_total, row["errors_total"])
        self.outbox_rows = max(self.outbox_rows, row["outbox_rows"])
        self.dropped_total = max(self.dropped_total, row["dropped_total"])
        self.dead_letters_total = max(self.dead_letters_total, row["dead_letters_total"])
        self.disk_free_bytes = _lowest(self.disk_free_bytes, row["disk_free_bytes"])
        self.temperature_celsius = _highest(self.temperature_celsius, row["temperature_celsius"])

    def row(self, device_id: str, start: datetime) -> HealthRollup:
        return HealthRollup(
            device_id=device_id,
            bucket_start=start,
            samples=self.samples,
            infer_fps=sum(self.fps) / len(self.fps) if self.fps else None,
            fps_ratio=self.fps_ratio,
            latency_p95_ms=self.latency_p95_ms,
            detections=self.detections,
            errors_total=self.errors_total,
            outbox_rows=self.outbox_rows,
            dropped_total=self.dropped_total,
            dead_letters_total=self.dead_letters_total,
            disk_free_bytes=self.disk_free_bytes or 0,
            temperature_celsius=self.temperature_celsius,
        )


def _lowest(current: _N | None, value: _N | None) -> _N | None:
    if value is None:
        return current
    return value if current is None else min(current, value)


def _highest(current: _N | None, value: _N | None) -> _N | None:
    if value is None:
        return current
    return value if current is None else max(current, value)


_FIGURES = (
    "device_id",
    "received_at",
    "infer_fps",
    "fps_ratio",
    "latency_p95_ms",
    "detections",
    "errors_total",
    "outbox_rows",
    "dropped_total",
    "dead_letters_total",
    "disk_free_bytes",
    "temperature_celsius",
)


def roll_up(now: datetime, settings: MonitoringSettings, max_buckets: int = 12) -> tuple[int, int]:
    """Fold aged samples into roll-ups (at most `max_buckets` buckets of time per pass) and
    delete expired roll-ups; return (samples folded, roll-ups deleted)."""
    cutoff = bucket_start(now - timedelta(hours=settings.raw_retention_h), settings.rollup_s)
    oldest = (
        HeartbeatSample.objects.filter(received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("received_at", flat=True)
        .first()
    )
    folded = 0
    if oldest is not None:
        start = bucket_start(oldest, settings.rollup_s)
        end = min(cutoff, start + timedelta(seconds=settings.rollup_s * max_buckets))
        folded = _fold(start, end, settings.rollup_s)
    expired, _ = HealthRollup.objects.filter(
        bucket_start__lt=now - timedelta(days=settings.rollup_retention_days)
    ).delete()
    if folded or expired:
        logger.info("heartbeat history: %d samples rolled up, %d roll-ups expired", folded, expired)
    return folded, expired


def _fold(start: datetime, end: datetime, bucket_s: int) -> int:
    buckets: dict[tuple[str, datetime], _Bucket] = defaultdict(_Bucket)
    with transaction.atomic():
        samples = HeartbeatSample.objects.filter(received_at__gte=start, received_at__lt=end)
        for row in samples.values(*_FIGURES).iterator(chunk_size=5000):
            buckets[row["device_id"], bucket_start(row["received_at"], bucket_s)].add(row)
        HealthRollup.objects.bulk_create(
            [bucket.row(device_id, when) for (device_id, when), bucket in buckets.items()],
            ignore_conflicts=True,
            batch_size=1000,
        )
        deleted, _ = samples.delete()
    return deleted
