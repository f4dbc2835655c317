"""Heartbeats and stored samples for the monitoring tests."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from cloud.fleet.services import CameraFigures, Heartbeat
from cloud.monitoring.models import HeartbeatSample
from tests.cloud.fleet.heartbeats import heartbeat


def camera(camera_id: str = "lobby", **figures: Any) -> CameraFigures:
    """A camera that ran at its configured 5 fps, 20/30 ms per frame, 10 detections."""
    steady = CameraFigures(
        camera_id=camera_id,
        connected=True,
        decode_fps=25.0,
        infer_fps=5.0,
        target_fps=5.0,
        latency_p50_ms=20.0,
        latency_p95_ms=30.0,
        detections=10,
    )
    return dataclasses.replace(steady, **figures)


def camera_heartbeat(seq: int, sampled_at: datetime, **fields: Any) -> Heartbeat:
    """A 5 s heartbeat of one steady camera, but for `fields` (`cameras` among them)."""
    return dataclasses.replace(
        heartbeat(seq, sampled_at), **{"interval_s": 5.0, "cameras": (camera(),), **fields}
    )


def stored(device_id: str, seq: int, received_at: datetime, **columns: Any) -> HeartbeatSample:
    """A sample row as `record_heartbeats` would store it for a steady 5 fps camera."""
    values: dict[str, Any] = {
        "sampled_at": received_at,
        "interval_s": 5.0,
        "infer_fps": 5.0,
        "fps_ratio": 1.0,
        "latency_p95_ms": 30.0,
        "detections": 10,
        "errors_total": 0,
        "outbox_rows": 0,
        "dropped_total": 0,
        "dead_letters_total": 0,
        "disk_free_bytes": 10**9,
        "temperature_celsius": None,
        "cameras": {"lobby": [25.0, 5.0, 5.0, 20.0, 30.0, 10]},
    }
    values.update(columns)
    return HeartbeatSample.objects.create(
        device_id=device_id, seq=seq, received_at=received_at, **values
    )
