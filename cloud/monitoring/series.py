"""Time series of one device's health for the device page's charts (`/devices/<id>/series.json`).

Three metrics, each a few named series of [time in epoch milliseconds, value] points:

- ``fps``: each camera's detector rate (frames per second) and its configured target;
- ``latency``: each camera's detector latency, p50 and p95 (milliseconds);
- ``drops``: the outbox's dropped and dead-lettered rows (counters: a step up is a loss) and
  the rows waiting in it.

Recent points come from the raw heartbeat samples, older ones from the roll-ups, which keep only
device-wide figures (a series of their own, "all cameras"). At most `MAX_POINTS` per series: a
longer range is thinned by averaging neighbouring samples (counters keep their highest value,
so a drop never disappears from the chart).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cloud.monitoring.models import CAMERA_KEYS, HealthRollup, HeartbeatSample

MAX_POINTS: Final = 600

Point = tuple[int, float | None]


@dataclass(frozen=True, slots=True)
class Metric:
    """How a metric is charted."""

    unit: str
    combine: Callable[[Sequence[float]], float]
    """How thinning merges neighbouring values."""


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def _highest(values: Sequence[float]) -> float:
    return max(values)


METRICS: Final = {
    "fps": Metric("frames/s", _mean),
    "latency": Metric("ms", _mean),
    "drops": Metric("rows", _highest),
}


def device_series(device_id: str, metric: str, since: datetime) -> dict[str, Any]:
    """The series of `metric` (a key of `METRICS`) for `device_id` from `since` on, as the
    endpoint returns them (`{"metric", "unit", "series": [{"name", "points"}]}`)."""
    chart = METRICS[metric]
    series: dict[str, list[Point]] = defaultdict(list)
    raw = list(
        HeartbeatSample.objects.filter(device_id=device_id, received_at__gte=since)
        .order_by("received_at", "seq")
        .values("received_at", "cameras", "dropped_total", "dead_letters_total", "outbox_rows")
    )
    rolled_before = raw[0]["received_at"] if raw else None
    rollups = HealthRollup.objects.filter(device_id=device_id, bucket_start__gte=since)
    if rolled_before is not None:
        rollups = rollups.filter(bucket_start__lt=rolled_before)
    for rollup in rollups.order_by("bucket_start"):
        _add_rollup(series, metric, rollup)
    for row in raw:
        _add_sample(series, metric, row)
    return {
        "metric": metric,
        "unit": chart.unit,
        "since": since.isoformat(),
        "series": [
            {"name": name, "points": thin(points, chart.combine)} for name, points in series.items()
        ],
    }


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _add_sample(series: dict[str, list[Point]], metric: str, row: Mapping[str, Any]) -> None:
    at = _epoch_ms(row["received_at"])
    if metric == "drops":
        series["dropped"].append((at, row["dropped_total"]))
        series["dead letters"].append((at, row["dead_letters_total"]))
        series["outbox rows"].append((at, row["outbox_rows"]))
        return
    for camera_id, values in sorted(row["cameras"].items()):
        figures = dict(zip(CAMERA_KEYS, values, strict=True))
        if metric == "fps":
            series[f"{camera_id} fps"].append((at, figures["infer_fps"]))
            series[f"{camera_id} target"].append((at, figures["target_fps"] or None))
        else:
            series[f"{camera_id} p50"].append((at, figures["p50_ms"]))
            series[f"{camera_id} p95"].append((at, figures["p95_ms"]))


def _add_rollup(series: dict[str, list[Point]], metric: str, rollup: HealthRollup) -> None:
    at = _epoch_ms(rollup.bucket_start)
    if metric == "fps":
        series["all cameras fps"].append((at, rollup.infer_fps))
    elif metric == "latency":
        series["all cameras p95 (highest)"].append((at, rollup.latency_p95_ms))
    else:
        series["dropped"].append((at, rollup.dropped_total))
        series["dead letters"].append((at, rollup.dead_letters_total))
        series["outbox rows"].append((at, rollup.outbox_rows))


def thin(
    points: Sequence[Point], combine: Callable[[Sequence[float]], float], most: int = MAX_POINTS
) -> list[Point]:
    """At most `most` points: each run of neighbours becomes one point at the run's first time,
    its value `combine`d from the run's known values (None when it has none)."""
    if len(points) <= most:
        return list(points)
    size = -(-len(points) // most)  # ceiling division
    thinned: list[Point] = []
    for start in range(0, len(points), size):
        run = points[start : start + size]
        known = [value for _, value in run if value is not None]
        thinned.append((run[0][0], combine(known) if known else None))
    return thinned
