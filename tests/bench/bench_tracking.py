"""Tracking benchmark: the agent's detector and tracker on `vtest.avi` against hand-checked tracks.

    nice -n 10 uv run python -m tests.bench.bench_tracking [--fps 5 --fps none] [--threads 2]

For each sampling rate (`--fps`, repeatable; `none` is every frame, 5 is the agent's default
`source.fps`), it runs `edge.pipelines.python.PythonPipeline`, the class the agent runs for each
camera (`edge.app`), on the first 305 frames of `vtest.avi` read by the agent's `CaptureSource`,
with the agent's detector (NanoDet-g on ONNX Runtime, `--threads` intra-op threads, the default
detector settings) and its tracker as the config builds it (`create_tracker` on the default
`tracker` settings). A thin wrapper around the tracker keeps what it hands the pipeline; the
pipeline is not changed.

The person tracks (a track's majority label) are scored with `tests.footage.mot` against the
ground truth of `tests/footage/vtest_gt.txt` (every fifth frame from 100 to 295; made and
checked by eye, see tests/footage/README.md): on each annotated frame, the boxes of the tracks
matched to a detection on the last processed frame at or before it (at 5 fps the agent skips
every other frame; a track's box is then a frame old, well within the IoU 0.5 of a match).
LOST predictions are not counted: the agent emits no box for them.

Each rate runs twice: with the tracker by boxes alone (the frame withheld: the reference
ByteTrack, the baseline) and as the agent runs it (given the frame: colour and frame border, see
`edge.tracking.bytetrack`), with the tracker's own time per frame.

Reported: IDF1, MOTA, identity switches, fragmentations, and the predicted tracks that mix two
people (matched to two or more true identities over their life), with those people. Not a
pytest test; it prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime
from itertools import product
from pathlib import Path
from typing import Any

from edge.crops.selector import CropSettings
from edge.detectors.base import Detector, ModelSettings
from edge.detectors.ort import OrtSettings
from edge.detectors.registry import create_detector
from edge.errors import EdgeError
from edge.pipelines.base import CameraSettings, PipelineStats
from edge.pipelines.python import PythonPipeline
from edge.pipelines.tracks import MATCHED
from edge.sources.base import Frames, Image, SourceSettings, VideoSource
from edge.sources.capture import CaptureSource
from edge.tracking.base import DetectionLike, Tracker, TrackUpdate
from edge.tracking.registry import TrackerSettings, create_tracker
from tests.bench.measure import BenchError, load_average, machine_facts, report
from tests.edge.sinks import RecordingSink
from tests.footage.clips import VTEST, source
from tests.footage.mot import SAMPLED, TrackBox, evaluate, load

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "models" / "nanodet-g.toml"
FRAMES = SAMPLED.stop + 5
"""Frames run: the stretch's last annotated frame and a few after it (a track's end is then
not forced on the last annotated frame)."""


class RecordingTracker:
    """The real tracker, with every update it returns kept (per processed frame) and the time it
    took. `boxes_only` withholds the frame: the tracker then runs as the reference ByteTrack, by
    boxes alone (no colour, no frame border), the baseline the default is compared with."""

    def __init__(self, tracker: Tracker, *, boxes_only: bool = False) -> None:
        self._tracker = tracker
        self._boxes_only = boxes_only
        self.updates: dict[int, list[TrackUpdate]] = {}
        self.seconds = 0.0

    def update(
        self,
        detections: Sequence[DetectionLike],
        frame_index: int,
        timestamp: float,
        image: Image | None = None,
    ) -> list[TrackUpdate]:
        started = time.perf_counter()
        updates = self._tracker.update(
            detections, frame_index, timestamp, None if self._boxes_only else image
        )
        self.seconds += time.perf_counter() - started
        self.updates[frame_index] = updates
        return updates

    def flush(self, frame_index: int, timestamp: float) -> list[TrackUpdate]:
        return self._tracker.flush(frame_index, timestamp)


def predicted_boxes(updates: dict[int, list[TrackUpdate]], decoded: list[int]) -> list[TrackBox]:
    """Person tracks' matched boxes on each annotated frame, from the last processed frame at
    or before it; `decoded` maps the tracker's frame numbers to decoded frame indices."""
    boxes = []
    for frame in SAMPLED:
        earlier = [number for number, index in enumerate(decoded) if index <= frame]
        if not earlier:
            continue
        for update in updates.get(earlier[-1], []):
            if update.state in MATCHED and update.label == "person":
                box = update.box
                boxes.append(TrackBox(frame, update.track_number, box.x1, box.y1, box.x2, box.y2))
    return boxes


class Stretch:
    """A source cut short: its frames up to (not including) decoded frame `end`. Keeps the
    decoded index of each frame it yields: the pipeline numbers the frames it processes 0, 1, ...
    for the tracker, whatever the sampling."""

    def __init__(self, source: VideoSource, end: int) -> None:
        self._source = source
        self._end = end
        self.decoded: list[int] = []
        """Decoded index of each yielded frame, in order."""

    @property
    def started_at(self) -> datetime:
        return self._source.started_at

    def frames(self, stop: threading.Event) -> Frames:
        with closing(self._source.frames(stop)) as frames:
            for frame in frames:
                if frame.index >= self._end:
                    return
                self.decoded.append(frame.index)
                yield frame


def run_agent(
    detector: Detector, fps: float | None, *, boxes_only: bool
) -> tuple[list[TrackBox], PipelineStats, float]:
    """Run the pipeline on the stretch; its person boxes on the annotated frames, its counters
    and the seconds spent in the tracker."""
    camera = CameraSettings(id="bench", source=SourceSettings(url=str(source(VTEST)), fps=fps))
    tracker = RecordingTracker(
        create_tracker(TrackerSettings(), camera_id=camera.id), boxes_only=boxes_only
    )
    stretch = Stretch(CaptureSource(camera.source, camera_id=camera.id), FRAMES)
    stats = run_pipeline(camera, stretch, detector, tracker)
    return predicted_boxes(tracker.updates, stretch.decoded), stats, tracker.seconds


def run_pipeline(
    camera: CameraSettings, video: VideoSource, detector: Detector, tracker: RecordingTracker
) -> PipelineStats:
    """The agent's python pipeline over `video` to its end, crops kept in memory."""
    pipeline = PythonPipeline(
        camera,
        source=video,
        detector=detector,
        tracker=tracker,
        crops=CropSettings(),
        sink=RecordingSink(),
    )
    return pipeline.run(threading.Event())


def nanodet(threads: int) -> Detector:
    """The agent's default detector on ONNX Runtime with `threads` intra-op threads."""
    settings = OrtSettings(model=ModelSettings(manifest=MANIFEST), intra_op_threads=threads)
    try:
        return create_detector(settings)
    except (EdgeError, FileNotFoundError) as err:
        raise BenchError(f"{err} (build it: uv run python -m models build nanodet-g)") from err


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    truth = load()
    detector = nanodet(args.threads)
    runs = []
    # Boxes only (the reference ByteTrack) first, then the default, at each rate: the baseline
    # is measured in the same run, on the same machine load.
    for fps, boxes_only in product(args.fps, (True, False)):
        predicted, stats, tracker_seconds = run_agent(detector, fps, boxes_only=boxes_only)
        scores = evaluate(truth, predicted)
        runs.append(
            {
                "fps": fps,
                "tracker": "boxes" if boxes_only else "default",
                "tracker_ms_per_frame": round(1000 * tracker_seconds / stats.frames, 2),
                "frames_processed": stats.frames,
                "seconds": round(stats.seconds, 1),
                "idf1": round(scores.idf1, 3),
                "mota": round(scores.mota, 3),
                "id_switches": scores.id_switches,
                "fragmentations": scores.fragmentations,
                "mixed_tracks": scores.mixed_tracks,
                "mixes": [[track, list(people)] for track, people in scores.mixes],
                "predicted_tracks": scores.predicted_tracks,
                "true_tracks": scores.true_tracks,
                "precision": round(scores.precision, 3),
                "recall": round(scores.recall, 3),
            }
        )
    return {"runs": runs, "load_average": load_average(), "machine": machine_facts()}


def render(result: dict[str, Any]) -> str:
    lines = [
        "fps   tracker  ms/frame  frames  IDF1   MOTA   IDsw  frag  mixed/tracks  precision  recall"
        "  mixes",
    ]
    for run in result["runs"]:
        fps = "all" if run["fps"] is None else f"{run['fps']:g}"
        mixes = " ".join(f"{track}:{'+'.join(map(str, people))}" for track, people in run["mixes"])
        lines.append(
            f"{fps:<5} {run['tracker']:<8} {run['tracker_ms_per_frame']:>8.2f}  "
            f"{run['frames_processed']:>6}  {run['idf1']:.3f}  {run['mota']:.3f}  "
            f"{run['id_switches']:>4}  {run['fragmentations']:>4}  "
            f"{run['mixed_tracks']:>5}/{run['predicted_tracks']:<6}  {run['precision']:.3f}"
            f"      {run['recall']:.3f}   {mixes or '-'}"
        )
    lines.append(f"load average before/after: {result['load_average']}")
    return "\n".join(lines)


def _fps(value: str) -> float | None:
    return None if value.lower() == "none" else float(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fps", type=_fps, action="append",
        help="sampling rate, repeatable; none = every frame (default: none and 5)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="detector intra-op threads")
    args = parser.parse_args(argv)
    if args.fps is None:
        args.fps = [None, 5.0]
    return report(benchmark, render, args)


if __name__ == "__main__":
    sys.exit(main())
