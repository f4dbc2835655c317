"""Hand-checked tracking ground truth for `vtest.avi` and the MOT metrics of a tracker against it.

`vtest_gt.txt` (beside this module) is in the MOTChallenge text format, one box per line:
``frame,id,x,y,w,h,conf,class,visibility`` with 1-based frame numbers of `vtest.avi` (line frame
101 is the frame at index 100), top-left corner and size in pixels, conf 1, class 1 (pedestrian)
and the visible fraction as judged by eye. How it was made and checked, and what is ambiguous in
it: tests/footage/README.md.

`evaluate` scores tracks with `motmetrics` (py-motmetrics, the MOTChallenge devkit's Python
port): a predicted box matches a true one when their IoU is at least 0.5, the usual MOT
threshold. Only the annotated frames count (`SAMPLED`): predictions on the others are dropped,
as MOTChallenge does for frames left out of a sequence's ground truth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import motmetrics
import numpy as np

from edge.tracking.matching import FloatArray, iou_matrix

GT_FILE = Path(__file__).with_name("vtest_gt.txt")
SAMPLED = range(100, 300, 5)
"""The annotated frames: every fifth frame of `vtest.avi` from index 100 to 295 (20 s at 10 fps)."""
WIDTH, HEIGHT = 768, 576
IOU_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class TrackBox:
    """One object on one frame: `frame` is the 0-based index into `vtest.avi`."""

    frame: int
    track: int
    x1: float
    y1: float
    x2: float
    y2: float
    visibility: float = 1.0


@dataclass(frozen=True, slots=True)
class TrackingScores:
    """CLEAR MOT and identity scores of predicted tracks against the ground truth."""

    idf1: float
    mota: float
    id_switches: int
    fragmentations: int
    mixes: tuple[tuple[int, tuple[int, ...]], ...]
    """Each predicted track matched to more than one true identity over its life, with those
    identities: (predicted id, (true ids...))."""
    predicted_tracks: int
    """Predicted tracks with a box on at least one annotated frame."""
    true_tracks: int
    precision: float
    recall: float

    @property
    def mixed_tracks(self) -> int:
        """How many predicted tracks mix two or more people."""
        return len(self.mixes)


def load(path: Path = GT_FILE) -> list[TrackBox]:
    """Read a MOTChallenge ground-truth file (ten columns or the nine of MOT16/17)."""
    boxes = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) < 9:
            raise ValueError(f"{path}:{number}: expected 9 comma-separated fields, got {line!r}")
        frame, track = int(fields[0]), int(fields[1])
        x, y, w, h = (float(value) for value in fields[2:6])
        boxes.append(TrackBox(frame - 1, track, x, y, x + w, y + h, float(fields[8])))
    return boxes


def evaluate(
    truth: Sequence[TrackBox], predicted: Iterable[TrackBox], frames: Iterable[int] = SAMPLED
) -> TrackingScores:
    """Score `predicted` against `truth` on `frames` (other frames' boxes are ignored)."""
    wanted = set(frames)
    true_by_frame: dict[int, list[TrackBox]] = defaultdict(list)
    predicted_by_frame: dict[int, list[TrackBox]] = defaultdict(list)
    for box in truth:
        true_by_frame[box.frame].append(box)
    for box in predicted:
        if box.frame in wanted:
            predicted_by_frame[box.frame].append(box)
    accumulator = motmetrics.MOTAccumulator(auto_id=False)
    for frame in sorted(wanted):
        objects, hypotheses = true_by_frame[frame], predicted_by_frame[frame]
        # motmetrics' own `distances.iou_matrix` calls `np.asfarray`, gone in numpy 2: the same
        # distance (1 - IoU, NaN where a pair may not match) from the tracker's IoU function.
        distance = 1.0 - iou_matrix(_corners(objects), _corners(hypotheses))
        distance[distance > 1.0 - IOU_THRESHOLD] = np.nan
        accumulator.update(
            [box.track for box in objects], [box.track for box in hypotheses], distance,
            frameid=frame,
        )  # fmt: skip
    summary = motmetrics.metrics.create().compute(
        accumulator,
        metrics=["idf1", "mota", "num_switches", "num_fragmentations", "precision", "recall"],
        name="run",
    )
    row = summary.loc["run"]
    return TrackingScores(
        idf1=float(row["idf1"]),
        mota=float(row["mota"]),
        id_switches=int(row["num_switches"]),
        fragmentations=int(row["num_fragmentations"]),
        mixes=_mixes(accumulator),
        predicted_tracks=len({box.track for boxes in predicted_by_frame.values() for box in boxes}),
        true_tracks=len({box.track for box in truth if box.frame in wanted}),
        precision=float(row["precision"]),
        recall=float(row["recall"]),
    )


def _corners(boxes: Sequence[TrackBox]) -> FloatArray:
    corners = [(box.x1, box.y1, box.x2, box.y2) for box in boxes]
    return np.array(corners, dtype=np.float64).reshape(-1, 4)


def _mixes(accumulator: motmetrics.MOTAccumulator) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """Predicted ids matched (MATCH or SWITCH events) to two or more true ids."""
    events = accumulator.mot_events
    matched = events[events["Type"].isin(["MATCH", "SWITCH"])]
    people: dict[int, set[int]] = defaultdict(set)
    for predicted, true in zip(matched["HId"], matched["OId"], strict=True):
        people[int(predicted)].add(int(true))
    return tuple(
        (predicted, tuple(sorted(true)))
        for predicted, true in sorted(people.items())
        if len(true) > 1
    )
