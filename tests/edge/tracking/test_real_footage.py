"""The tracker and the track ledger on real footage: NanoDet-g on the first 50 frames of vtest.avi.

Needs the built model (`uv run python -m models build`); skips with that hint when it is missing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from statistics import median

import cv2
import numpy as np
import pytest

from edge.crops.selector import CropSettings
from edge.pipelines.tracks import TrackLedger
from edge.records import ModelRef
from edge.tracking.base import TrackState, TrackUpdate
from edge.tracking.bytetrack import ByteTrackSettings, ByteTrackTracker
from edge.tracking.matching import iou_matrix
from models.cache import model_path
from models.detection import (
    Detection,
    decode_nanodet,
    letterbox,
    nanodet_levels,
    to_detections,
    to_nchw,
)
from models.manifest import load_manifest
from tests.edge.sinks import RecordingSink
from tests.footage.clips import VTEST, source

pytestmark = pytest.mark.slow

FRAMES = 50
FPS = 10.0
START = datetime(2026, 1, 1, tzinfo=UTC)
PERSON = 0  # COCO class id


@dataclass
class Run:
    detections: list[list[Detection]]
    updates: list[list[TrackUpdate]]
    sink: RecordingSink
    high_score: float


@pytest.fixture(scope="module")
def run() -> Run:
    manifest = load_manifest("nanodet-g")
    model = model_path(manifest)
    if not model.is_file():
        pytest.skip(f"{model} is not built yet: run `uv run python -m models build`")
    spec = manifest.input
    assert spec.color == "BGR" and spec.mean and spec.std and manifest.labels
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    output_names = [output.name for output in session.get_outputs()]
    settings = ByteTrackSettings()
    tracker = ByteTrackTracker(settings, camera_id="vtest")
    sink = RecordingSink()
    ledger = TrackLedger(
        CropSettings(first_crop_after_s=None, emit_interval_s=None),
        camera_id="vtest",
        model=ModelRef(manifest.name, manifest.version),
        sink=sink,
    )
    capture = cv2.VideoCapture(str(source(VTEST)))
    result = Run([], [], sink, settings.high_score)
    try:
        for index in range(FRAMES):
            ok, decoded = capture.read()
            assert ok, "vtest.avi ended early"
            frame = np.asarray(decoded, dtype=np.uint8)
            canvas, transform = letterbox(frame, (416, 416))
            tensor = to_nchw(canvas, spec.mean, spec.std)
            outputs = session.run(output_names, {input_name: tensor})
            scores, box_logits = nanodet_levels(dict(zip(output_names, outputs, strict=True)))
            # Down to ByteTrack's low score: weak detections are what keeps occluded tracks.
            raw = decode_nanodet(
                scores, box_logits, score_threshold=settings.low_score, class_agnostic=True
            )
            detections = to_detections(raw, transform, manifest.labels.names)
            updates = tracker.update(detections, index, index / FPS, frame)
            result.detections.append(detections)
            result.updates.append(updates)
            ledger.observe(frame, START + timedelta(seconds=index / FPS), updates)
        ended = tracker.flush(FRAMES, FRAMES / FPS)
        result.updates.append(ended)
        ledger.end(ended)
    finally:
        capture.release()
    return result


def confident_people(detections: list[Detection], threshold: float) -> int:
    return sum(d.score >= threshold and d.class_id == PERSON for d in detections)


def live_boxes(updates: list[TrackUpdate]) -> np.ndarray:
    return np.array(
        [
            [u.box.x1, u.box.y1, u.box.x2, u.box.y2]
            for u in updates
            if u.state is not TrackState.LOST
        ]
    ).reshape(-1, 4)


def test_the_detector_sees_the_pedestrians(run: Run) -> None:
    per_frame = [confident_people(d, run.high_score) for d in run.detections]
    assert 3 <= median(per_frame) <= 12


def test_confident_detections_are_tracked(run: Run) -> None:
    settings = ByteTrackSettings()
    covered = total = 0
    # From frame 2 on, past the min_hits warm-up.
    for detections, updates in list(zip(run.detections, run.updates, strict=False))[2:]:
        boxes = np.array(
            [[d.x1, d.y1, d.x2, d.y2] for d in detections if d.score >= settings.new_track_score]
        ).reshape(-1, 4)
        total += len(boxes)
        if len(boxes) and len(tracks := live_boxes(updates)):
            covered += int((iou_matrix(boxes, tracks).max(axis=1) > 0.5).sum())
    assert total > 100
    assert covered / total >= 0.9


def test_the_number_of_tracks_is_plausible(run: Run) -> None:
    ids = {u.track_number for updates in run.updates for u in updates}
    people = median(confident_people(d, run.high_score) for d in run.detections)
    # Some people enter or leave in 5 s, and a few tracks break; a tracker that re-ids every few
    # frames would give far more.
    assert people <= len(ids) <= 2.5 * people + 3


def test_the_parked_car_is_one_track_all_along(run: Run) -> None:
    # The car cut by the right edge near the top of vtest.avi does not move.
    parked = np.array([[735.0, 50.0, 768.0, 94.0]])
    ids = set()
    for updates in run.updates:
        for u in updates:
            box = np.array([[u.box.x1, u.box.y1, u.box.x2, u.box.y2]])
            if u.state is not TrackState.ENDED and iou_matrix(parked, box)[0, 0] > 0.7:
                ids.add(u.track_number)
    (car,) = ids
    final = next(u for u in run.updates[-1] if u.track_number == car)
    assert final.label == "car"
    assert final.hits >= FRAMES - 5


def test_tracks_are_long_and_never_jump(run: Run) -> None:
    feet: dict[int, list[tuple[int, float, float, float]]] = defaultdict(list)
    for updates in run.updates:
        for u in updates:
            if u.state in (TrackState.NEW, TrackState.UPDATED):
                feet[u.track_number].append(
                    (u.frame_index, (u.box.x1 + u.box.x2) / 2, u.box.y2, u.box.height)
                )
    assert median(len(seen) for seen in feet.values()) >= 15
    for number, seen in feet.items():
        for (f0, x0, y0, height), (f1, x1, y1, _) in pairwise(seen):
            # A pedestrian at 10 fps moves about a tenth of their height per frame. The feet
            # point is used because a box that swallows a neighbour moves its top, not its feet.
            step = float(np.hypot(x1 - x0, y1 - y0)) / (f1 - f0)
            assert step < 0.5 * height, f"track {number} jumped between frames {f0} and {f1}"


def test_every_track_ends_once_with_one_best_crop(run: Run) -> None:
    ids = {u.track_number for updates in run.updates for u in updates}
    ended = [
        u.track_number for updates in run.updates for u in updates if u.state is TrackState.ENDED
    ]
    assert sorted(ended) == sorted(ids)
    summaries = run.sink.tracks
    assert len(summaries) == len(ids) and all(s.ended for s in summaries)
    # One crop per track, the one its summary names.
    assert sorted(c.track_id for c in run.sink.crops) == sorted(s.track_id for s in summaries)
    assert {c.detection_id for c in run.sink.crops} == {s.best_detection_id for s in summaries}
    for crop in run.sink.crops:
        image = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        rect = crop.crop_box
        assert image.shape == (rect.y2 - rect.y1, rect.x2 - rect.x1, 3)
        assert 0 <= rect.x1 < rect.x2 <= 768 and 0 <= rect.y1 < rect.y2 <= 576
