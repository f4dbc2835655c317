"""Prometheus metrics of the agent, read from its own counters at scrape time.

Nothing here counts anything: each scrape takes one `AgentHealth` snapshot (the pipelines'
`PipelineStats`, their detector latency histograms, the outbox per lane) and reports it, so the
figures are those the heartbeat and the run summary show. Metric names (all `sightline_edge_`):

- per camera (label `camera`): `frames_decoded_total`, `frames_processed_total` (run through
  the detector), `frames_gated_total` (kept from the detector by the motion gate),
  `frames_dropped_total` (the camera fell behind), `detections_total`, `tracks_total`,
  `crops_total`, `source_reconnects_total`, `camera_connected` (1 or 0), `camera_state`
  (1 for the current state of each label value), `camera_fps` (processed frames per second
  since the previous scrape at least 1 s before), `detector_latency_seconds` (histogram);
- per outbox lane (label `lane`: record, crop): `outbox_rows`, `outbox_bytes`,
  `outbox_dropped_total` (drop-oldest bound), `outbox_dead_letters_total`,
  `outbox_delivered_total`;
- `up` style checks: `healthy` and `ready` (1 or 0, as `/healthz` and `/readyz` answer);
- process figures (`process_resident_memory_bytes`, CPU seconds, open files) come from
  prometheus_client's own `ProcessCollector`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from edge.health.state import AgentHealth, CameraHealth, CameraState

PREFIX = "sightline_edge_"
MIN_FPS_WINDOW_S = 1.0
"""A scrape sooner than this after the previous one reports the previous fps again: a rate
over a few milliseconds would be noise."""

_COUNTERS: tuple[tuple[str, str, Callable[[CameraHealth], int]], ...] = (
    ("frames_decoded", "Frames read from the source.", lambda c: c.stats.frames_decoded),
    ("frames_processed", "Frames run through the detector.", lambda c: c.stats.frames),
    ("frames_gated", "Frames the motion gate kept from the detector.", lambda c: c.stats.gated),
    ("frames_dropped", "Frames dropped because the camera fell behind.", lambda c: c.stats.dropped),
    ("detections", "Detections passed to the tracker.", lambda c: c.stats.detections),
    ("tracks", "Tracks confirmed.", lambda c: c.stats.tracks),
    ("crops", "Crops handed to delivery.", lambda c: c.stats.crops),
    ("source_reconnects", "Times the source was lost and reconnected.", lambda c: c.reconnects),
)


class AgentCollector(Collector):
    """Reports `snapshot()` on each scrape (see the module docstring). Thread-safe."""

    def __init__(
        self, snapshot: Callable[[], AgentHealth], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._snapshot = snapshot
        self._clock = clock
        self._lock = threading.Lock()
        # Per camera: (time, frames processed) of the reference point, and the fps last reported.
        self._fps: dict[str, tuple[float, int, float]] = {}

    def collect(self) -> Iterator[Metric]:
        """One scrape."""
        health = self._snapshot()
        yield from self._camera_metrics(health)
        yield from _lane_metrics(health)
        healthy = GaugeMetricFamily(PREFIX + "healthy", "1 when /healthz answers 200.")
        healthy.add_metric([], 0.0 if health.problems() else 1.0)
        yield healthy
        ready = GaugeMetricFamily(PREFIX + "ready", "1 when /readyz answers 200.")
        ready.add_metric([], 0.0 if health.not_ready() else 1.0)
        yield ready

    def _camera_metrics(self, health: AgentHealth) -> Iterator[Metric]:
        labels = ["camera"]
        for name, help_text, value in _COUNTERS:
            family = CounterMetricFamily(PREFIX + name, help_text, labels=labels)
            for camera in health.cameras:
                family.add_metric([camera.camera_id], value(camera))
            yield family
        connected = GaugeMetricFamily(
            PREFIX + "camera_connected", "1 while the source delivers frames.", labels=labels
        )
        state = GaugeMetricFamily(
            PREFIX + "camera_state", "1 for the camera's current state.", labels=[*labels, "state"]
        )
        fps = GaugeMetricFamily(
            PREFIX + "camera_fps", "Frames run through the detector per second.", labels=labels
        )
        latency = HistogramMetricFamily(
            PREFIX + "detector_latency_seconds", "Time of one detector call.", labels=labels
        )
        for camera in health.cameras:
            connected.add_metric(
                [camera.camera_id], 1.0 if camera.state is CameraState.CONNECTED else 0.0
            )
            for each in CameraState:
                state.add_metric([camera.camera_id, each.value], float(camera.state is each))
            fps.add_metric([camera.camera_id], self._camera_fps(camera))
            histogram = camera.latency
            cumulative, buckets = 0, []
            for bound, count in zip(
                (*histogram.bounds_s, float("inf")), histogram.counts, strict=True
            ):
                cumulative += count
                buckets.append((_bound(bound), float(cumulative)))
            latency.add_metric([camera.camera_id], buckets, histogram.sum_s)
        yield from (connected, state, fps, latency)

    def _camera_fps(self, camera: CameraHealth) -> float:
        now, frames = self._clock(), camera.stats.frames
        with self._lock:
            reference = self._fps.get(camera.camera_id)
            if reference is None:
                # First scrape: the average since the camera started.
                seconds = camera.stats.seconds
                fps = frames / seconds if seconds > 0 else 0.0
                self._fps[camera.camera_id] = (now, frames, fps)
                return fps
            since, before, last_fps = reference
            if now - since < MIN_FPS_WINDOW_S:
                return last_fps
            fps = max(frames - before, 0) / (now - since)
            self._fps[camera.camera_id] = (now, frames, fps)
            return fps


def _lane_metrics(health: AgentHealth) -> Iterator[Metric]:
    labels = ["lane"]
    rows = GaugeMetricFamily(PREFIX + "outbox_rows", "Rows waiting in the outbox.", labels=labels)
    size = GaugeMetricFamily(
        PREFIX + "outbox_bytes", "Payload bytes waiting in the outbox.", labels=labels
    )
    dropped = CounterMetricFamily(
        PREFIX + "outbox_dropped",
        "Rows dropped by the outbox's bound, since the outbox was created.",
        labels=labels,
    )
    dead = CounterMetricFamily(
        PREFIX + "outbox_dead_letters",
        "Rows dead-lettered (refused for good), since the outbox was created.",
        labels=labels,
    )
    delivered = CounterMetricFamily(
        PREFIX + "outbox_delivered", "Rows delivered since the agent started.", labels=labels
    )
    for lane in health.lanes:
        rows.add_metric([lane.kind], lane.rows)
        size.add_metric([lane.kind], lane.bytes)
        dropped.add_metric([lane.kind], lane.dropped_total)
        dead.add_metric([lane.kind], lane.dead_letters_total)
        delivered.add_metric([lane.kind], lane.delivered_total)
    yield from (rows, size, dropped, dead, delivered)


def _bound(bound: float) -> str:
    """A bucket's `le` label as Prometheus writes it."""
    return "+Inf" if bound == float("inf") else repr(bound)
