"""The heartbeat's content: one `sightline.device.v1.Metrics` sample of the device.

`HeartbeatSampler` is the `heartbeat` callable of the MQTT link (which stamps key, session and
time and publishes it). It reads:

- per lane ('record', 'crop'): rows and bytes waiting, rows dropped by the bound and
  dead-lettered (since the outbox was created, as the outbox counts them), rows delivered (since
  the agent started, from the `Sender`), and the permanent error that stopped the lane (or that the
  lane is not configured, so its rows only pile up); `outbox_*` are the sums over the lanes;
- `disk_free_bytes` of the outbox's filesystem;
- `memory_used_bytes` (the agent's resident set), `memory_available_bytes` and `cpu_percent`
  (whole device, since the previous sample) from `/proc` where there is one (Linux), else 0:
  psutil is not a dependency of the agent;
- `tracks_interrupted_total`, the cameras, the error count and the temperature from providers
  the app passes in, so this module needs nothing from the pipelines;
- per camera the model it runs, fps, detector latency (p50, p95) and detections over the
  interval since the previous sample (`interval_s`), from each camera's running totals and the
  detector call times it collected since then; frames gated and dropped since it started.

Called from one thread (the link's); each call is a handful of SQLite reads and `/proc` reads.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.thermal import hottest_celsius
from edge.transport.outbox import KINDS, Outbox
from edge.transport.sender import Sender
from sightline.common.v1 import model_pb2
from sightline.device.v1 import metrics_pb2

logger = logging.getLogger(__name__)

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class CameraSample:
    """What the heartbeat needs of one camera: its state and running totals."""

    camera_id: str
    connected: bool
    """Whether the source is delivering frames now."""
    frames_decoded: int
    frames: int
    """Frames run through the detector."""
    detections: int
    model_name: str = ""
    model_version: str = ""
    model_sha256: str = ""
    """The detector model the camera runs now (sha256 of the file loaded)."""
    detector_latencies_ms: Sequence[float] = ()
    """Each detector call since the previous sample, in milliseconds."""
    target_fps: float = 0.0
    """The configured detection rate; 0 for every frame."""
    gated: int = 0
    """Frames the motion gate kept from the detector, since the camera started."""
    dropped: int = 0
    """Frames dropped because the camera fell behind, since the camera started."""


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100) of `values` by linear interpolation between the closest
    ranks (numpy's default); `values` must not be empty."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class HeartbeatSampler:
    """Builds the device's Metrics (see the module docstring)."""

    def __init__(
        self,
        outbox: Outbox,
        sender: Sender,
        *,
        tracks_interrupted: Callable[[], int] = lambda: 0,
        cameras: Callable[[], Sequence[CameraSample]] = tuple,
        errors: Callable[[], tuple[int, str]] = lambda: (0, ""),
        temperature: Callable[[], float | None] = hottest_celsius,
    ) -> None:
        """`sender` runs the configured lanes (a kind it has no counters for has no lane);
        `tracks_interrupted` counts tracks an earlier agent process left unfinished (since the
        outbox was created); `cameras` samples each camera; `errors` gives the errors logged so
        far and the last one's text (`edge.logs.ErrorTally.snapshot`); `temperature` the
        device's temperature in degrees Celsius, None where unknown."""
        self._outbox = outbox
        self._sender = sender
        self._tracks_interrupted = tracks_interrupted
        self._cameras = cameras
        self._errors = errors
        self._temperature = temperature
        self._cpu = _cpu_times()
        self._last_sample: float | None = None
        self._last_cameras: dict[str, tuple[float, CameraSample]] = {}

    def __call__(self) -> metrics_pb2.Metrics:
        """One sample."""
        now = time.monotonic()
        errors_total, last_error = self._errors()
        metrics = metrics_pb2.Metrics(
            lanes=lane_metrics(self._outbox, self._sender),
            cameras=self._camera_metrics(now),
            disk_free_bytes=shutil.disk_usage(self._outbox.path.parent).free,
            tracks_interrupted_total=self._tracks_interrupted(),
            interval_s=now - self._last_sample if self._last_sample is not None else 0.0,
            errors_total=errors_total,
            last_error=last_error,
        )
        self._last_sample = now
        temperature = self._temperature()
        if temperature is not None:
            metrics.temperature_celsius = temperature
        metrics.outbox_rows = sum(lane.rows for lane in metrics.lanes)
        metrics.outbox_bytes = sum(lane.bytes for lane in metrics.lanes)
        metrics.outbox_dropped_total = sum(lane.dropped_total for lane in metrics.lanes)
        metrics.memory_used_bytes = _resident_bytes()
        metrics.memory_available_bytes = _available_bytes()
        cpu = _cpu_times()
        metrics.cpu_percent = _busy_percent(self._cpu, cpu)
        self._cpu = cpu
        return metrics

    def _camera_metrics(self, now: float) -> list[metrics_pb2.CameraMetrics]:
        cameras = []
        for sample in self._cameras():
            last_time, last = self._last_cameras.get(sample.camera_id, (now, sample))
            elapsed = now - last_time
            camera = metrics_pb2.CameraMetrics(
                camera_id=sample.camera_id,
                connected=sample.connected,
                decode_fps=(sample.frames_decoded - last.frames_decoded) / elapsed
                if elapsed > 0
                else 0.0,
                infer_fps=(sample.frames - last.frames) / elapsed if elapsed > 0 else 0.0,
                detections_total=sample.detections,
                detections=max(sample.detections - last.detections, 0),
                model=model_pb2.ModelRef(name=sample.model_name, version=sample.model_version),
                model_sha256=sample.model_sha256,
                target_fps=sample.target_fps,
                frames_gated_total=sample.gated,
                frames_dropped_total=sample.dropped,
            )
            if sample.detector_latencies_ms:
                camera.detector_latency_p50_ms = percentile(sample.detector_latencies_ms, 50)
                camera.detector_latency_p95_ms = percentile(sample.detector_latencies_ms, 95)
            cameras.append(camera)
            self._last_cameras[sample.camera_id] = (now, sample)
        return cameras


def lane_metrics(outbox: Outbox, sender: Sender) -> list[metrics_pb2.LaneMetrics]:
    """The outbox per lane (see the module docstring); also read by `/metrics`."""
    counters_by_kind = sender.counters()
    failures = sender.failures()
    dropped = outbox.dropped()
    dead = outbox.dead_lettered()
    lanes = []
    for kind in KINDS:
        counters = counters_by_kind.get(kind)
        failure = failures.get(kind)
        if counters is None:
            error = "no lane configured: rows stay spooled"
        else:
            error = str(failure) if failure is not None else ""
        lanes.append(
            metrics_pb2.LaneMetrics(
                kind=kind,
                rows=outbox.depth(kind),
                bytes=outbox.bytes(kind),
                dropped_total=dropped[kind],
                dead_letters_total=dead[kind],
                delivered_total=counters.delivered if counters else 0,
                error=error,
            )
        )
    return lanes


def _read(path: Path) -> str:
    """A /proc file's text, or "" where there is none (not Linux, or restricted)."""
    try:
        return path.read_text(encoding="ascii")
    except OSError:
        return ""


def _resident_bytes() -> int:
    """The agent's resident set size: /proc/self/statm field 2, in pages."""
    fields = _read(_PROC / "self" / "statm").split()
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE") if len(fields) > 1 else 0


def _available_bytes() -> int:
    """MemAvailable of /proc/meminfo (kB)."""
    for line in _read(_PROC / "meminfo").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from the `cpu` line of /proc/stat."""
    lines = _read(_PROC / "stat").splitlines()
    if not lines or not lines[0].startswith("cpu "):
        return 0, 0
    # user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    values = [int(value) for value in lines[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _busy_percent(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total > 0 else 0.0
