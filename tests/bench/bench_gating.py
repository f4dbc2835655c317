"""Motion gating: detector calls saved and tracks lost, against the detector on every frame.

    nice -n 10 uv run python -m tests.bench.bench_gating [--frames 795] [--fps 5] \
        [--threads 2] [--gate '{"track_interval_s": 0.3}' ...]

Each clip runs through `edge.pipelines.python.PythonPipeline` (the agent's per-camera class) with
the agent's detector (NanoDet-g on ONNX Runtime) and tracker (default settings), every frame
(`source.fps` null; `--fps 5` samples `vtest` as the agent does by default): once with the motion
gate off (the baseline, the detector on every frame), then once with it on for each `--gate`
(JSON of `MotionGateSettings` fields over the defaults, `enabled: true`; default: the defaults
alone). Clips:

- `vtest`: the first `--frames` frames of `vtest.avi` (pedestrians walking all the time, 10 fps).
- `static`: frame 0 of `vtest.avi` repeated 100 times (10 s at 10 fps): a scene where nothing moves,
  with people standing in it.

Reported per clip: detector calls of each run and their ratio, and the tracks lost: person tracks
of the baseline that the gated run does not follow. A baseline track is followed when, on at
least half of the frames where it was matched and the gated run ran its detector, a gated track
was matched with IoU >= 0.5 to it (a track on none of the gated run's detector frames is lost).
The lost tracks are also counted among the baseline tracks that last (span 1 s or more): most
shorter ones are a detector's flicker, which no gap between detector frames can follow.
On `vtest` both runs are also scored against the hand-checked ground truth
(`tests/footage/vtest_gt.txt`, frames 100-295) with `tests.footage.mot`: IDF1, recall, identity
switches; a gated run's box on an annotated frame is that of its last detector frame at or before
it. Not a pytest test; it prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from edge.detectors.base import Detector
from edge.pipelines.base import CameraSettings, PipelineStats
from edge.pipelines.motion_gate import MotionGateSettings
from edge.pipelines.tracks import MATCHED
from edge.sources.base import Frame, Frames, SourceSettings, VideoSource
from edge.sources.capture import CaptureSource
from edge.tracking.matching import iou_matrix
from edge.tracking.registry import TrackerSettings, create_tracker
from tests.bench.bench_tracking import RecordingTracker, Stretch, nanodet, run_pipeline
from tests.bench.measure import BenchError, load_average, machine_facts, report
from tests.footage.clips import VTEST, source
from tests.footage.mot import SAMPLED, TrackBox, evaluate, load

STATIC_FRAMES = 100
FOLLOWED_IOU = 0.5
LASTING_FRAMES = 10
"""A baseline track spanning this many source frames (1 s of vtest or the static clip) or more
"lasts"; shorter ones are mostly a detector's flicker that a tracker confirmed for a moment."""


class FrozenSource:
    """One frame repeated `count` times at 10 fps: a scene where nothing moves."""

    def __init__(self, image: np.ndarray, count: int) -> None:
        self._image = image
        self._count = count
        self.decoded = list(range(count))

    @property
    def started_at(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)

    def frames(self, stop: threading.Event) -> Frames:
        for index in range(self._count):
            if stop.is_set():
                return
            yield Frame(self._image.copy(), index, index / 10.0)


@dataclass
class Run:
    stats: PipelineStats
    boxes: dict[int, dict[int, np.ndarray]]
    """Decoded frame index -> person track number -> matched box, on detector frames only."""


def run_once(
    detector: Detector, video: VideoSource, decoded: list[int], gate: MotionGateSettings
) -> Run:
    camera = CameraSettings(
        id="bench", source=SourceSettings(url=str(VTEST), fps=None), motion=gate
    )
    tracker = RecordingTracker(create_tracker(TrackerSettings(), camera_id=camera.id))
    stats = run_pipeline(camera, video, detector, tracker)
    boxes: dict[int, dict[int, np.ndarray]] = {}
    for number, updates in tracker.updates.items():
        boxes[decoded[number]] = {
            update.track_number: np.array(
                [update.box.x1, update.box.y1, update.box.x2, update.box.y2]
            )
            for update in updates
            if update.state in MATCHED and update.label == "person"
        }
    return Run(stats, boxes)


@dataclass(frozen=True)
class Lost:
    """Baseline person tracks and those the gated run does not follow, all and lasting ones."""

    tracks: int = 0
    lost: int = 0
    lasting: int = 0
    lasting_lost: int = 0


def tracks_lost(baseline: Run, gated: Run) -> Lost:
    """The baseline's person tracks the gated run does not follow; see the module docstring."""
    frames_of: dict[int, list[int]] = {}
    for frame, tracks in baseline.boxes.items():
        for number in tracks:
            frames_of.setdefault(number, []).append(frame)
    lost = lasting = lasting_lost = 0
    for number, frames in frames_of.items():
        lasts = frames[-1] - frames[0] + 1 >= LASTING_FRAMES
        lasting += lasts
        shared = [frame for frame in frames if frame in gated.boxes]
        followed = 0
        for frame in shared:
            others = list(gated.boxes[frame].values())
            if others:
                ious = iou_matrix(baseline.boxes[frame][number][None, :], np.array(others))
                followed += bool(ious.max() >= FOLLOWED_IOU)
        if not shared or followed * 2 < len(shared):
            lost += 1
            lasting_lost += lasts
    return Lost(len(frames_of), lost, lasting, lasting_lost)


def truth_boxes(run: Run) -> list[TrackBox]:
    """The run's person boxes on each annotated frame, from its last detector frame at or
    before it."""
    detector_frames = sorted(run.boxes)
    predicted = []
    for frame in SAMPLED:
        earlier = [index for index in detector_frames if index <= frame]
        if earlier:
            for number, box in run.boxes[earlier[-1]].items():
                predicted.append(TrackBox(frame, number, *map(float, box)))
    return predicted


def sources(
    frames: int, runs: int, fps: float | None
) -> Iterator[tuple[str, VideoSource, list[int]]]:
    """Each clip as a fresh source `runs` times (baseline, then gated), with its decoded-index
    list."""
    settings = SourceSettings(url=str(source(VTEST)), fps=fps)
    capture = cv2.VideoCapture(str(VTEST))
    ok, first = capture.read()
    capture.release()
    if not ok:
        raise BenchError(f"{VTEST}: cannot read its first frame")
    for _ in range(runs):
        stretch = Stretch(CaptureSource(settings, camera_id="bench"), frames)
        yield ("vtest" if fps is None else f"vtest@{fps:g}fps"), stretch, stretch.decoded
    for _ in range(runs):
        frozen = FrozenSource(first, STATIC_FRAMES)
        yield "static", frozen, frozen.decoded


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    truth = load()
    detector = nanodet(args.threads)
    gates = [MotionGateSettings()] + [
        MotionGateSettings.model_validate({**json.loads(gate), "enabled": True})
        for gate in args.gate or ["{}"]
    ]
    runs: dict[str, list[Run]] = {}
    for number, (clip, video, decoded) in enumerate(sources(args.frames, len(gates), args.fps)):
        gate = gates[number % len(gates)]
        runs.setdefault(clip, []).append(run_once(detector, video, decoded, gate))
    clips = []
    for clip, (baseline, *gated_runs) in runs.items():
        for gate, gated in zip(gates[1:], gated_runs, strict=True):
            clips.append(compare(clip, baseline, gated, gate, truth, args.frames))
    return {"clips": clips, "load_average": load_average(), "machine": machine_facts()}


def compare(
    clip: str,
    baseline: Run,
    gated: Run,
    gate: MotionGateSettings,
    truth: list[TrackBox],
    frames: int,
) -> dict[str, Any]:
    """One clip's row: the gated run against the baseline (and the ground truth on vtest)."""
    lost = tracks_lost(baseline, gated)
    row: dict[str, Any] = {
        "clip": clip,
        "gate": gate.model_dump(exclude_defaults=True, exclude={"enabled"}),
        "frames": baseline.stats.frames_decoded,
        "calls_every_frame": baseline.stats.frames,
        "calls_gated": gated.stats.frames,
        "gated_frames": gated.stats.gated,
        "fewer_calls": round(baseline.stats.frames / max(1, gated.stats.frames), 2),
        "baseline_tracks": lost.tracks,
        "tracks_lost": lost.lost,
        "tracks_lost_share": round(lost.lost / lost.tracks, 3) if lost.tracks else 0.0,
        "lasting_tracks": lost.lasting,
        "lasting_tracks_lost": lost.lasting_lost,
        "seconds_every_frame": round(baseline.stats.seconds, 1),
        "seconds_gated": round(gated.stats.seconds, 1),
    }
    if clip.startswith("vtest") and frames > SAMPLED.stop:
        for name, run in (("every_frame", baseline), ("gated", gated)):
            scores = evaluate(truth, truth_boxes(run))
            row[f"idf1_{name}"] = round(scores.idf1, 3)
            row[f"recall_{name}"] = round(scores.recall, 3)
            row[f"id_switches_{name}"] = scores.id_switches
    return row


def render(result: dict[str, Any]) -> str:
    lines = [
        "clip         frames  calls all/gated  fewer  tracks lost/all  lasting 1 s+  "
        "IDF1 all/gated  recall"
    ]
    for row in result["clips"]:
        idf1 = recall = "-"
        if "idf1_gated" in row:
            idf1 = f"{row['idf1_every_frame']:.3f}/{row['idf1_gated']:.3f}"
            recall = f"{row['recall_every_frame']:.3f}/{row['recall_gated']:.3f}"
        lines.append(
            f"{row['clip']:<12} {row['frames']:>6}  "
            f"{row['calls_every_frame']:>6}/{row['calls_gated']:<6}"
            f"   {row['fewer_calls']:>5.2f}x  {row['tracks_lost']:>5}/{row['baseline_tracks']:<5}"
            f"      {row['lasting_tracks_lost']:>5}/{row['lasting_tracks']:<5}"
            f"   {idf1:<13}   {recall}  {row['gate'] or 'defaults'}"
        )
    lines.append(f"load average before/after: {result['load_average']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=795, help="vtest.avi frames to run")
    parser.add_argument("--threads", type=int, default=2, help="detector intra-op threads")
    parser.add_argument("--fps", type=float, help="vtest sampling rate (default: every frame)")
    parser.add_argument(
        "--gate", action="append", help="JSON gate settings over the defaults, repeatable"
    )
    return report(benchmark, render, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
