"""A heartbeat as one compact `HeartbeatSample` row: pure functions, no database.

The device-wide columns are what the alerts and the rollout gate compare (the mean detector
rate, the slowest camera's share of its configured rate and its p95 latency, the sums of
detections and losses); each camera's own figures go in `cameras` for the device page's charts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from cloud.errors import InvalidInput
from cloud.fleet.services import CameraFigures, Heartbeat
from cloud.validators import (
    require,
    require_bigint,
    require_finite,
    require_free_text,
    validate_edge_name,
)

MAX_CAMERAS: Final = 64
MAX_LAST_ERROR: Final = 4096
"""Characters of a heartbeat's last error; the edge sends at most 1024."""
MAX_RATE: Final = 10_000.0
"""Frames per second and milliseconds above this are not a camera's: refused, not charted."""


def sample_fields(heartbeat: Heartbeat, received_at: datetime) -> dict[str, Any]:
    """The `HeartbeatSample` columns of a heartbeat (but the device); `InvalidInput` for
    figures the store or the charts cannot hold (not finite, negative, absurd, too many)."""
    _check(heartbeat)
    cameras = heartbeat.cameras
    ratios = [c.infer_fps / c.target_fps for c in cameras if c.target_fps > 0]
    latencies = [c.latency_p95_ms for c in cameras if c.latency_p95_ms is not None]
    return {
        "seq": heartbeat.seq,
        "sampled_at": heartbeat.sampled_at,
        "received_at": received_at,
        "interval_s": heartbeat.interval_s,
        "infer_fps": sum(c.infer_fps for c in cameras) / len(cameras) if cameras else None,
        "fps_ratio": min(ratios, default=None),
        "latency_p95_ms": max(latencies, default=None),
        "detections": sum(c.detections for c in cameras),
        "errors_total": heartbeat.errors_total,
        "outbox_rows": heartbeat.outbox_rows,
        "dropped_total": heartbeat.outbox_dropped_total,
        "dead_letters_total": sum(lane.dead_letters_total for lane in heartbeat.lanes),
        "disk_free_bytes": heartbeat.disk_free_bytes,
        "temperature_celsius": heartbeat.temperature_celsius,
        "cameras": {c.camera_id: _camera_row(c) for c in cameras},
    }


def _camera_row(camera: CameraFigures) -> list[float | int | None]:
    # The order of models.CAMERA_KEYS; rounded, because the charts need no more.
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return [
        rounded(camera.decode_fps),
        rounded(camera.infer_fps),
        rounded(camera.target_fps),
        rounded(camera.latency_p50_ms),
        rounded(camera.latency_p95_ms),
        camera.detections,
    ]


def _check(heartbeat: Heartbeat) -> None:
    _check_rate(heartbeat.interval_s, "interval_s", maximum=366 * 86400.0)
    require_bigint(heartbeat.errors_total, "errors_total")
    require_free_text(heartbeat.last_error, "last_error", MAX_LAST_ERROR)
    if heartbeat.temperature_celsius is not None:
        require_finite(heartbeat.temperature_celsius, "temperature_celsius")
    if len(heartbeat.cameras) > MAX_CAMERAS:
        raise InvalidInput(f"cameras: at most {MAX_CAMERAS}")
    if len({c.camera_id for c in heartbeat.cameras}) != len(heartbeat.cameras):
        raise InvalidInput("cameras: each camera at most once")
    for camera in heartbeat.cameras:
        require(validate_edge_name, camera.camera_id, "cameras.camera_id")
        for name in ("decode_fps", "infer_fps", "target_fps", "latency_p50_ms", "latency_p95_ms"):
            value = getattr(camera, name)
            if value is not None:
                _check_rate(value, f"cameras.{name}")
        require_bigint(camera.detections, "cameras.detections")


def _check_rate(value: float, field: str, maximum: float = MAX_RATE) -> None:
    require_finite(value, field)
    if not 0.0 <= value <= maximum:
        raise InvalidInput(f"{field}: must lie in [0, {maximum:g}]")
