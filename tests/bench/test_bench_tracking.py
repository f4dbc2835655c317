"""The tracking benchmark's reading of tracker updates: which boxes count on an annotated frame."""

from __future__ import annotations

from edge.geometry import Box
from edge.tracking.base import TrackState, TrackUpdate
from tests.bench.bench_tracking import predicted_boxes


def _update(number: int, state: TrackState, label: str = "person", x: float = 0.0) -> TrackUpdate:
    return TrackUpdate(
        track_number=number, state=state, box=Box(x, 0.0, x + 10.0, 20.0), score=0.9, class_id=0,
        label=label, frame_index=0, timestamp=0.0, age=3, hits=3,
    )  # fmt: skip


def test_an_annotated_frame_takes_the_last_processed_frame_at_or_before_it() -> None:
    # Processed frames 0, 1, 2 are decoded frames 100, 104, 106 (sampling skips some).
    updates = {
        0: [_update(1, TrackState.NEW, x=1.0)],
        1: [_update(1, TrackState.UPDATED, x=2.0)],
        2: [_update(1, TrackState.UPDATED, x=3.0)],
    }
    boxes = predicted_boxes(updates, [100, 104, 106])
    assert [(box.frame, box.track, box.x1) for box in boxes[:2]] == [(100, 1, 1.0), (105, 1, 2.0)]


def test_lost_predictions_and_other_classes_are_not_counted() -> None:
    updates = {
        0: [
            _update(1, TrackState.LOST),
            _update(2, TrackState.UPDATED, label="car"),
            _update(3, TrackState.ENDED),
            _update(4, TrackState.UPDATED),
        ]
    }
    assert {box.track for box in predicted_boxes(updates, [100])} == {4}
