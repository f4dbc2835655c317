"""End-to-end benchmark: bare detector, edge pipeline and the whole demo stack on the same frames.

    uv run python -m tests.bench.bench_e2e [--video FILE] [--frames N] [--data-dir DIR]

One run measures, on the first N frames of the video (all of them by default):

1. the bare detector: preprocess + ONNX Runtime + NanoDet decode/NMS on frames decoded into memory
   beforehand, with the detector settings the demo's edge agent uses;
2. the edge pipeline alone: ``python -m edge run`` with ``delivery: null`` (decode, detector,
   tracker, crop selection and JPEG encoding; crops are counted, not sent);
3. end to end on the embedded defaults, through `demo.stack`'s pieces: in-process MQTT broker,
   gRPC ingest, MQTT bridge and a Celery embed worker, then ``python -m edge run`` delivering to
   them; it waits until every crop is embedded and reads the times the cloud recorded.

Frame-to-searchable latency needs the wall time at which the edge processed each frame. For a file
source `Detection.ts` is not that: it is the wall time the file was opened plus the frame's
position in the video (index / video fps), so it runs ahead of or behind processing depending on
whether the edge is slower or faster than the video's rate. The benchmark therefore runs the edge
with DEBUG logs in JSON and takes each frame's processing time from the pipeline's per-frame record
(logged once the frame is detected, tracked and its crops cut), and maps each crop to its frame by
inverting ``ts = opened + index / fps``. `Detection.embedded_at` is when the crop became searchable.

Not a pytest test (the file name does not match ``test_*.py``): it takes minutes and its figures
depend on the machine. It prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import yaml

from demo import stack
from edge.detectors.ort import OrtDetector, OrtSettings
from edge.detectors.preprocess import Preprocessor
from tests.bench.measure import (
    BenchError,
    cpu_sample,
    load_average,
    machine_facts,
    other_cores,
    percentiles,
    report,
)

logger = logging.getLogger("tests.bench.bench_e2e")

Image = npt.NDArray[np.uint8]

# The pipeline's per-frame DEBUG record and the file source's "opened" record (edge/pipelines/
# python.py and edge/sources/capture.py); the source sets its `started_at` just before the latter.
_FRAME_DONE = re.compile(r"^camera \S+ frame (\d+):")
_OPENED = re.compile(r"^camera \S+: opened ")
_PIPELINE_LOGGER = "edge.pipelines.python"
_SOURCE_LOGGER = "edge.sources.capture"
# `ts` minus index / fps must land on the source's open time; farther off than this means the
# crop-to-frame mapping (or the meaning of ts) is not what this benchmark assumes.
_TS_TOLERANCE_S = 0.02


@dataclass(frozen=True)
class Footage:
    """The benchmarked frames, decoded into memory, and the video's frame rate."""

    frames: list[Image]
    fps: float


@dataclass(frozen=True)
class EdgeRun:
    """One ``python -m edge run`` and what its JSON logs say about each frame."""

    summary: dict[str, Any]
    launched_at: datetime
    opened_at: datetime
    """When the file source opened the video (its `started_at`, to the log's microsecond)."""
    processed_at: dict[int, datetime]
    """Frame index -> when the pipeline had detected, tracked and cut the crops of that frame."""

    @property
    def loop_seconds(self) -> float:
        """From opening the video to the last frame processed: decode to crops, no start-up."""
        return (max(self.processed_at.values()) - self.opened_at).total_seconds()

    @property
    def fps(self) -> float:
        """Frames processed per second of `loop_seconds`."""
        return int(self.summary["frames"]) / self.loop_seconds


@dataclass(frozen=True)
class CropTimes:
    """When one crop's frame was processed, reached the cloud, and became searchable."""

    processed: datetime
    received: datetime
    searchable: datetime
    ts_offset_s: float
    """`ts` minus (open time + index / fps): about 0 when ts means what the docstring says."""
    ts_ahead_s: float
    """`ts` minus the frame's processing time: how far ts is from the processing wall time."""


def load_footage(video: Path, limit: int | None) -> Footage:
    """Decode the first `limit` frames (all when None) into memory, as the edge source would."""
    capture = cv2.VideoCapture(str(video))
    frames: list[Image] = []
    try:
        if not capture.isOpened():
            raise BenchError(f"cannot open {video}")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        while limit is None or len(frames) < limit:
            ok, image = capture.read()
            if not ok:
                break
            frames.append(np.asarray(image, dtype=np.uint8))
    finally:
        capture.release()
    if not frames or fps <= 0:
        raise BenchError(f"{video}: no frames, or no frame rate to date them by")
    return Footage(frames, fps)


def detector_fps(frames: Sequence[Image], settings: OrtSettings) -> float:
    """Frames per second through preprocess + ORT + decode/NMS, decoding excluded."""
    detector = OrtDetector(settings)  # warms up in its constructor, outside the timed loop
    preprocess = Preprocessor(detector.spec)
    try:
        started = time.perf_counter()
        for image in frames:
            tensor, _ = preprocess(image)
            detector.detect(tensor)
        elapsed = time.perf_counter() - started
    finally:
        detector.close()
    return len(frames) / elapsed


def run_edge(
    config: Mapping[str, Any],
    name: str,
    data: Path,
    env: Mapping[str, str],
    max_frames: int | None,
) -> EdgeRun:
    """Run the edge agent on `config` with DEBUG JSON logs in ``data/logs/<name>.log``."""
    config_path = data / f"{name}.yaml"
    logged = {**config, "log_level": "DEBUG", "log_format": "json"}
    config_path.write_text(yaml.safe_dump(logged), encoding="utf-8")
    command = [sys.executable, "-m", "edge", "run", "--config", str(config_path)]
    if max_frames is not None:
        command += ["--max-frames", str(max_frames)]
    log_path = data / "logs" / f"{name}.log"
    launched_at = datetime.now(UTC)
    with log_path.open("wb") as log:
        result = subprocess.run(
            command, env=dict(env), stdout=subprocess.PIPE, stderr=log, text=True, check=False
        )
    if result.returncode != 0:
        raise BenchError(f"edge agent ({name}) exited with {result.returncode}; see {log_path}")
    summary: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    opened_at, processed_at = _frame_times(log_path)
    if len(processed_at) != summary["frames"]:
        raise BenchError(
            f"{log_path}: {len(processed_at)} per-frame records for {summary['frames']} frames; "
            "did the pipeline's DEBUG message change?"
        )
    return EdgeRun(summary, launched_at, opened_at, processed_at)


def _frame_times(log_path: Path) -> tuple[datetime, dict[int, datetime]]:
    opened_at: datetime | None = None
    processed_at: dict[int, datetime] = {}
    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # native libraries write plain lines to the same stream
        if not isinstance(record, dict):
            continue
        message = str(record.get("message", ""))
        if record.get("logger") == _PIPELINE_LOGGER and (match := _FRAME_DONE.match(message)):
            processed_at[int(match.group(1))] = datetime.fromisoformat(record["time"])
        elif record.get("logger") == _SOURCE_LOGGER and _OPENED.match(message):
            opened_at = datetime.fromisoformat(record["time"])
    if opened_at is None or not processed_at:
        raise BenchError(f"{log_path}: no 'opened' or per-frame records in the edge log")
    return opened_at, processed_at


def crop_times(run: EdgeRun, fps: float) -> list[CropTimes]:
    """Every stored crop, tied to the processing time of the frame it was cut from.

    Needs Django set up on the cloud's settings (`stack.wait_until_indexed` has done it).
    """
    from cloud.detections.models import Detection

    times: list[CropTimes] = []
    for ts, received, embedded in Detection.objects.values_list("ts", "received_at", "embedded_at"):
        if embedded is None:
            raise BenchError("a crop is not embedded yet")
        index = round((ts - run.opened_at).total_seconds() * fps)
        processed = run.processed_at.get(index)
        if processed is None:
            raise BenchError(f"a crop with ts {ts.isoformat()} maps to unprocessed frame {index}")
        times.append(
            CropTimes(
                processed=processed,
                received=received,
                searchable=embedded,
                ts_offset_s=(ts - timedelta(seconds=index / fps) - run.opened_at).total_seconds(),
                ts_ahead_s=(ts - processed).total_seconds(),
            )
        )
    if not times:
        raise BenchError("the edge sent no crops; nothing to time")
    worst = max(abs(crop.ts_offset_s) for crop in times)
    if worst > _TS_TOLERANCE_S:
        raise BenchError(f"ts - index/fps strays {worst:.3f} s from the source's open time")
    return times


def end_to_end(
    config: Mapping[str, Any],
    data: Path,
    env: Mapping[str, str],
    ports: stack.Ports,
    *,
    video_fps: float,
    max_frames: int | None,
    index_timeout: float,
) -> dict[str, Any]:
    """Run the edge against the demo's cloud stack; rates, latencies and the ts check."""
    python = [sys.executable]
    token, _password = stack.prepare_cloud(python, env, data)
    with stack.running_cloud(python, env, data, ports) as services:
        edge_env = {**env, "SIGHTLINE_EDGE_DELIVERY__UPLINK__TOKEN": token}
        logger.info("end to end: edge agent delivering to the demo stack")
        run = run_edge(config, "edge-e2e", data, edge_env, max_frames)
        logger.info("edge agent done; waiting for the embed worker")
        stack.wait_until_indexed(run.summary["crops_sent"], services, index_timeout)
        crops = crop_times(run, video_fps)
    last_searchable = max(crop.searchable for crop in crops)
    window = (last_searchable - run.opened_at).total_seconds()
    frames = int(run.summary["frames"])
    return {
        "frames": frames,
        "crops": len(crops),
        "tracks": run.summary["tracks"],
        "seconds": round(window, 2),
        "fps": round(frames / window, 2),
        "crops_per_s": round(len(crops) / window, 2),
        "edge_startup_s": round((run.opened_at - run.launched_at).total_seconds(), 2),
        "edge_loop_s": round(run.loop_seconds, 2),
        "edge_fps": round(run.fps, 2),
        "latency_s": percentiles([(c.searchable - c.processed).total_seconds() for c in crops]),
        "processed_to_received_s": percentiles(
            [(c.received - c.processed).total_seconds() for c in crops]
        ),
        "received_to_searchable_s": percentiles(
            [(c.searchable - c.received).total_seconds() for c in crops]
        ),
        "ts_minus_processed_s": {
            "min": round(min(c.ts_ahead_s for c in crops), 2),
            "max": round(max(c.ts_ahead_s for c in crops), 2),
        },
        "ts_check_max_offset_ms": round(1000 * max(abs(c.ts_offset_s) for c in crops), 3),
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """All three measurements on the same frames, plus the machine facts."""
    video: Path = args.video
    data: Path = args.data_dir
    stack.prepare_data_dir(data, keep=False)
    ports = stack.Ports(mqtt=stack.free_port(), ingest=stack.free_port(), web=0)
    env = stack.adopt_environment(data, ports)
    load_before = load_average()
    stack.run_checked([sys.executable, "-m", "models", "build", *stack.MODELS], env, "model build")
    # The demo's own edge config, so that all three legs run the same detector settings.
    config = stack.edge_config(data, video, ports)
    footage = load_footage(video, args.frames)
    frames, video_fps = len(footage.frames), footage.fps
    logger.info("bare detector on %d frames", frames)
    started = cpu_sample()
    bare = detector_fps(footage.frames, OrtSettings.model_validate(config["detector"]))
    bare_others = other_cores(started)
    del footage  # about 1.3 MB a frame; the other legs decode for themselves

    logger.info("edge pipeline alone (delivery: null)")
    started = cpu_sample()
    alone = run_edge({**config, "delivery": None}, "edge-alone", data, os.environ, args.frames)
    alone_others = other_cores(started)
    started = cpu_sample()
    e2e = end_to_end(
        config,
        data,
        env,
        ports,
        video_fps=video_fps,
        max_frames=args.frames,
        index_timeout=args.index_timeout,
    )
    e2e_others = other_cores(started)
    return {
        "video": str(video),
        "video_fps": video_fps,
        "frames": frames,
        "machine": {**machine_facts(), "load_before": load_before, "load_after": load_average()},
        "detector": {
            "model": config["detector"]["model"]["manifest"],
            "intra_op_threads": config["detector"]["intra_op_threads"],
        },
        "bare_detector": {"fps": round(bare, 2), "other_cores": bare_others},
        "pipeline": {
            "fps": round(alone.fps, 2),
            "ratio_to_bare": round(alone.fps / bare, 3),
            "other_cores": alone_others,
            "crops": alone.summary["crops_queued"],
            "tracks": alone.summary["tracks"],
        },
        "end_to_end": {
            **e2e,
            "ratio_to_bare": round(e2e["fps"] / bare, 3),
            "other_cores": e2e_others,
        },
    }


def render(result: Mapping[str, Any]) -> str:
    """The human-readable table and definitions."""
    machine = result["machine"]
    pipeline = result["pipeline"]
    e2e = result["end_to_end"]
    latency, hold, embed = (
        e2e["latency_s"],
        e2e["processed_to_received_s"],
        e2e["received_to_searchable_s"],
    )
    skew = e2e["ts_minus_processed_s"]
    bare = result["bare_detector"]
    rows = [
        ("bare detector (pre-decoded)", bare["fps"], 1.0, bare["other_cores"]),
        ("edge pipeline, delivery: null", pipeline["fps"], pipeline["ratio_to_bare"],
         pipeline["other_cores"]),
        ("end to end, demo stack", e2e["fps"], e2e["ratio_to_bare"], e2e["other_cores"]),
    ]  # fmt: skip
    lines = [
        f"video {result['video']}: {result['frames']} frames at {result['video_fps']:g} fps",
        f"machine: {machine['cpus']} CPUs, {machine['cpu_model']}, onnxruntime "
        f"{machine['onnxruntime']}, load {machine['load_before']} before, "
        f"{machine['load_after']} after",
        f"detector: {Path(result['detector']['model']).stem}, "
        f"{result['detector']['intra_op_threads']} intra-op threads",
        "",
        f"{'stage':<32}{'frames/s':>10}{'x bare':>9}{'other load':>12}",
        *(f"{name:<32}{fps:>10.2f}{ratio:>9.3f}{other:>12.2f}" for name, fps, ratio, other in rows),
        "",
        f"end to end: {e2e['frames']} frames, {e2e['crops']} crops, {e2e['tracks']} tracks in "
        f"{e2e['seconds']} s: {e2e['fps']} frames/s, {e2e['crops_per_s']} crops/s "
        f"(edge loop {e2e['edge_fps']} frames/s while the cloud ran beside it)",
        f"frame-to-searchable latency per crop: p50 {latency['p50']} s, p95 {latency['p95']} s",
        f"  frame processed -> crop received by ingest: p50 {hold['p50']} s, p95 {hold['p95']} s",
        f"  crop received -> embedded (searchable):     p50 {embed['p50']} s, p95 {embed['p95']} s",
        "",
        "definitions:",
        "  bare detector: Preprocessor + OrtDetector.detect (ORT + decode/NMS) over frames",
        "    decoded into memory first; same detector settings as the edge agent below.",
        "  frames/s of the edge legs: frames / (last frame processed - video opened), from the",
        "    agent's DEBUG JSON log; agent start-up (python, model load) excluded",
        f"    ({e2e['edge_startup_s']} s in the end-to-end run).",
        "  end to end window: video opened by the edge -> last crop's embedded_at.",
        "  other load: cores kept busy by processes outside this benchmark during the leg",
        "    (/proc/stat busy time minus this process's and its children's CPU time); 0 = quiet.",
        "  latency: Detection.embedded_at - wall time the edge finished processing the crop's",
        "    frame (its per-frame DEBUG record). Not Detection.ts: for a file source ts is the",
        "    open time + index / video fps (checked to within "
        f"{e2e['ts_check_max_offset_ms']} ms),",
        f"    here {skew['min']} .. {skew['max']} s away from the processing wall time.",
        "  latency includes the crop selector holding a crop until its track ends or its",
        "    interval passes; received = Detection.received_at (ingest's row insert).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the benchmark, print the table and the JSON line."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench.bench_e2e",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--video", type=Path, default=stack.DEFAULT_VIDEO, help="video file")
    parser.add_argument(
        "--frames", type=int, default=None, help="benchmark the first N frames (default: all)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=stack.cache_dir() / "bench",
        help="working directory, wiped at the start and kept afterwards for inspection",
    )
    parser.add_argument(
        "--index-timeout", type=float, default=600.0, help="seconds to wait for embeddings"
    )
    args = parser.parse_args(argv)
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be at least 1")
    stack.quiet_broker_logs()
    return report(benchmark, render, args, (stack.DemoError,))


if __name__ == "__main__":
    sys.exit(main())
