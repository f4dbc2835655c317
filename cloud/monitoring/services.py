"""What the rest of the cloud may ask of device health over time.

- `record_heartbeats`: the MQTT bridge stores heartbeats in batches (one transaction each: the
  devices' latest values in `DeviceHealth`, one `HeartbeatSample` row per heartbeat), so one
  bridge keeps up with thousands of devices; `record_heartbeat` is the same for one.
- `window_stats`: a device's health over a window of time, which the rollout gate compares
  before and after a model change; `windows_stats` is the same for many windows at once.

Both are safe to call again with the same heartbeats (MQTT QoS 1 redelivers): a sample is
stored once per (device, seq).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from django.db import transaction
from django.db.models import Q

from cloud.errors import CloudError, InvalidInput, NotFound
from cloud.fleet.services import (
    Heartbeat,
    check_heartbeat,
    keep_latest_heartbeats,
    provisioned,
)
from cloud.monitoring.models import HeartbeatSample
from cloud.monitoring.samples import sample_fields

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ArrivedHeartbeat:
    """A wire-checked heartbeat, the device it came from and when the cloud received it."""

    device_id: str
    heartbeat: Heartbeat
    received_at: datetime


Outcome = bool | CloudError
"""Per heartbeat: True when it changed something (stored as a sample, or kept as its device's
latest), False when it was stored before (a repeat), else the domain error that refuses it
(`InvalidInput`, `NotFound`)."""


def record_heartbeats(heartbeats: Sequence[ArrivedHeartbeat]) -> list[Outcome]:
    """Store `heartbeats` in one transaction; return an outcome per heartbeat, in order.

    A heartbeat the store cannot hold, or from a device that is not provisioned, is refused
    alone (its outcome says why) and the others are stored. A database failure raises and
    stores nothing, so the caller may retry the batch, or store each heartbeat alone to learn
    which one the database refuses.
    """
    outcomes: list[Outcome | None] = [None] * len(heartbeats)
    checked: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for index, arrived in enumerate(heartbeats):
        try:
            health = check_heartbeat(arrived.heartbeat, arrived.received_at)
            sample = sample_fields(arrived.heartbeat, arrived.received_at)
        except InvalidInput as err:
            outcomes[index] = err
        else:
            checked[index] = health, sample
    known = provisioned(heartbeats[index].device_id for index in checked)
    for index in list(checked):
        device_id = heartbeats[index].device_id
        if device_id not in known:
            outcomes[index] = NotFound(f"device {device_id!r} is not provisioned")
            del checked[index]
    if checked:
        stored = _store(heartbeats, checked)
        for index in checked:
            outcomes[index] = index in stored
    return [outcome for outcome in outcomes if outcome is not None]


def _store(
    heartbeats: Sequence[ArrivedHeartbeat],
    checked: dict[int, tuple[dict[str, Any], dict[str, Any]]],
) -> set[int]:
    """Write the checked heartbeats; the indexes of those that changed something (a new
    sample, or the device's latest values)."""
    latest: dict[str, int] = {}
    for index, (health, _) in checked.items():
        device_id = heartbeats[index].device_id
        if device_id not in latest or checked[latest[device_id]][0]["seq"] < health["seq"]:
            latest[device_id] = index
    keys = {(heartbeats[index].device_id, sample["seq"]) for index, (_, sample) in checked.items()}
    with transaction.atomic():
        kept = keep_latest_heartbeats(
            {device_id: checked[index][0] for device_id, index in latest.items()}
        )
        seen = set(
            HeartbeatSample.objects.filter(
                device_id__in={device for device, _ in keys}, seq__in={seq for _, seq in keys}
            ).values_list("device_id", "seq")
        )
        new: dict[tuple[str, int], int] = {}
        for index, (_, sample) in checked.items():
            key = (heartbeats[index].device_id, sample["seq"])
            if key not in seen and key not in new:
                new[key] = index
        # ignore_conflicts: a second bridge (a rolling update) may store the same one meanwhile.
        HeartbeatSample.objects.bulk_create(
            [
                HeartbeatSample(device_id=device_id, **checked[index][1])
                for (device_id, _), index in new.items()
            ],
            ignore_conflicts=True,
        )
    return {*new.values(), *(latest[device_id] for device_id in kept)}


def record_heartbeat(device_id: str, heartbeat: Heartbeat, *, received_at: datetime) -> bool:
    """Store one heartbeat (`record_heartbeats`); True when new, False for a repeat. Raises
    `InvalidInput` for what the store cannot hold, `NotFound` for an unknown device."""
    (outcome,) = record_heartbeats([ArrivedHeartbeat(device_id, heartbeat, received_at)])
    if isinstance(outcome, CloudError):
        raise outcome
    return outcome


@dataclass(frozen=True, slots=True)
class WindowStats:
    """A device's health over a window, from the heartbeats received in it."""

    sample_count: int
    """Heartbeats received in the window; 0 means nothing below is known."""
    mean_fps: float | None
    """Frames through the detector per second, mean over the heartbeats (each the mean of the
    cameras); None without a camera."""
    latency_p95_ms: float | None
    """Detector p95 latency of the slowest camera, mean over the heartbeats; None when no frame
    was run."""
    errors: int
    """Errors the agent logged in the window (a restart of the agent counts from 0 again)."""
    detections_per_minute: float | None
    """Detections of all cameras per minute of the time the heartbeats cover; None when they
    cover none."""


@dataclass(frozen=True, slots=True)
class Window:
    """A span of one device's heartbeats: those received in [start, end)."""

    device_id: str
    start: datetime
    end: datetime


_SAMPLE_FIGURES = ("infer_fps", "latency_p95_ms", "errors_total", "detections", "interval_s")


def window_stats(device_id: str, start: datetime, end: datetime) -> WindowStats:
    """The device's health from its heartbeats received in [start, end).

    Reads the raw samples, kept for `MONITORING["raw_retention_h"]`: a window older than that
    has no samples (sample_count 0). Raises `InvalidInput` for an empty or reversed window.
    """
    (stats,) = windows_stats([Window(device_id, start, end)])
    return stats


def windows_stats(windows: Sequence[Window]) -> list[WindowStats]:
    """`window_stats` of each window, in order, in one query (the rollout gate and its page
    judge every device of a rollout at once).

    The query reads each device's samples from its earliest start to its latest end; devices
    that share that span (those assigned in one rollout stage) share one condition, so the
    query stays small for a large fleet. InvalidInput for an empty or reversed window.
    """
    if any(window.end <= window.start for window in windows):
        raise InvalidInput("window: end must be after start")
    spans: dict[str, tuple[datetime, datetime]] = {}
    for window in windows:
        start, end = spans.get(window.device_id, (window.start, window.end))
        spans[window.device_id] = (min(start, window.start), max(end, window.end))
    devices_by_span: dict[tuple[datetime, datetime], list[str]] = defaultdict(list)
    for device_id, span in spans.items():
        devices_by_span[span].append(device_id)
    where = Q()
    for (start, end), device_ids in devices_by_span.items():
        where |= Q(device_id__in=device_ids, received_at__gte=start, received_at__lt=end)
    rows_by_device: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    if windows:
        query = HeartbeatSample.objects.filter(where).order_by("device_id", "received_at", "seq")
        for device_id, received_at, *figures in query.values_list(
            "device_id", "received_at", *_SAMPLE_FIGURES
        ):
            rows_by_device[device_id].append((received_at, *figures))
    return [
        _stats(
            [
                row[1:]
                for row in rows_by_device[window.device_id]
                if window.start <= row[0] < window.end
            ]
        )
        for window in windows
    ]


def _stats(rows: Sequence[tuple[Any, ...]]) -> WindowStats:
    """The figures of a window's samples (`_SAMPLE_FIGURES` each), in the order received."""
    fps = [row[0] for row in rows if row[0] is not None]
    latency = [row[1] for row in rows if row[1] is not None]
    covered_s = sum(row[4] for row in rows)
    return WindowStats(
        sample_count=len(rows),
        mean_fps=sum(fps) / len(fps) if fps else None,
        latency_p95_ms=sum(latency) / len(latency) if latency else None,
        errors=counter_increase([row[2] for row in rows]),
        detections_per_minute=sum(row[3] for row in rows) * 60.0 / covered_s
        if covered_s > 0
        else None,
    )


def counter_increase(values: Sequence[int]) -> int:
    """How much a counter grew over `values` (in order), where a drop means it was reset (the
    agent restarted, the outbox was recreated) and counts again from 0."""
    return sum(after - before if after >= before else after for before, after in pairwise(values))
