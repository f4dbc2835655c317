"""The INT8 gate's measures against FP16 (decoded boxes, embedding cosine) and its decision."""

from __future__ import annotations

import numpy as np
import pytest

from export.parity_gate import (
    DETECTOR_METRIC,
    box_agreement,
    decide,
    embedding_agreement,
)
from models.detection import RawDetections


def _dets(*rows: tuple[float, float, float, float, float, int]) -> RawDetections:
    array = np.asarray([row[:5] for row in rows], np.float32).reshape(-1, 5)
    return RawDetections(
        boxes=array[:, :4], scores=array[:, 4], class_ids=np.asarray([r[5] for r in rows], np.int64)
    )


def test_box_agreement_counts_fp16_boxes_found_by_int8_with_the_same_class() -> None:
    fp16 = [
        _dets((0, 0, 10, 10, 0.9, 0), (20, 20, 40, 40, 0.8, 0)),
        _dets((0, 0, 10, 10, 0.9, 1)),
    ]
    int8 = [
        _dets((1, 0, 11, 10, 0.85, 0)),  # first box moved by 1 px, second lost
        _dets((0, 0, 10, 10, 0.9, 2)),  # right place, other class: lost
    ]

    recall, mean_iou = box_agreement(fp16, int8)

    assert recall == pytest.approx(1 / 3)
    assert mean_iou == pytest.approx(90 / 110)


def test_one_int8_box_is_not_matched_twice() -> None:
    fp16 = [_dets((0, 0, 10, 10, 0.9, 0), (0, 0, 10, 11, 0.8, 0))]
    int8 = [_dets((0, 0, 10, 10, 0.9, 0))]

    recall, _ = box_agreement(fp16, int8)

    assert recall == 0.5


def test_no_reference_box_means_nothing_lost() -> None:
    assert box_agreement([_dets()], [_dets((0, 0, 5, 5, 0.9, 0))]) == (1.0, 0.0)


def test_embedding_agreement_is_the_mean_cosine_of_the_worst_output() -> None:
    a = np.eye(4, dtype=np.float32)
    b = a.copy()
    b[0] = [0, 1, 0, 0]  # one crop of four turned orthogonal

    value = embedding_agreement({"e": a, "f": a}, {"e": a, "f": b})

    assert value == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("drop", "passed"), [(0.05, True), (0.1, True), (0.11, False), (float("nan"), False)]
)
def test_the_gate_passes_a_drop_within_the_bound(drop: float, passed: bool) -> None:
    record = decide(DETECTOR_METRIC, drop, 0.1)

    assert record.passed is passed
    assert (record.metric, record.reference, record.bound) == (DETECTOR_METRIC, "fp16", 0.1)
