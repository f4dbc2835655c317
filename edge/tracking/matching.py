"""Box overlap and track-to-detection assignment, pure functions over numpy arrays.

The solver is `lapx` (`import lap`), a maintained, typed fork of the `lap` package that ByteTrack's
reference code calls: its `lapjv(..., extend_cost=True, cost_limit=c)` leaves a pair unmatched
when its cost is above `c` instead of forcing it, which is exactly ByteTrack's gating. It needs
only numpy (about 15 MB installed). `scipy.optimize.linear_sum_assignment` would do the same with
a post-filter, but scipy adds about 110 MB to the edge image for this one function.
"""

from __future__ import annotations

from dataclasses import dataclass

import lap
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Result of matching rows (tracks) to columns (detections)."""

    pairs: list[tuple[int, int]]
    """(row, column) index pairs, each below the cost limit."""
    unmatched_rows: list[int]
    unmatched_cols: list[int]


def iou_matrix(boxes_a: FloatArray, boxes_b: FloatArray) -> FloatArray:
    """Intersection over union of every box in `boxes_a` (N, 4) with every box in `boxes_b` (M, 4).

    Boxes are (x1, y1, x2, y2); degenerate boxes give 0, never NaN.
    """
    if len(boxes_a) == 0 or len(boxes_b) == 0:
        return np.zeros((len(boxes_a), len(boxes_b)))
    a = boxes_a[:, None, :]
    b = boxes_b[None, :, :]
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_w * inter_h
    area_a = np.clip(a[..., 2] - a[..., 0], 0, None) * np.clip(a[..., 3] - a[..., 1], 0, None)
    area_b = np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)
    union = area_a + area_b - inter
    iou: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return iou


def fused_cost(iou: FloatArray, scores: FloatArray) -> FloatArray:
    """ByteTrack's `fuse_score`: cost 1 - IoU x score, so confident detections win close calls."""
    fused: FloatArray = 1.0 - iou * scores[None, :]
    return fused


def assign(cost: FloatArray, cost_limit: float) -> Assignment:
    """Minimum-cost one-to-one assignment; pairs whose cost exceeds `cost_limit` stay unmatched."""
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return Assignment(
            pairs=[], unmatched_rows=list(range(rows)), unmatched_cols=list(range(cols))
        )
    _, row_to_col, col_to_row = lap.lapjv(cost, extend_cost=True, cost_limit=cost_limit)
    pairs = [(row, int(col)) for row, col in enumerate(row_to_col) if col >= 0]
    return Assignment(
        pairs=pairs,
        unmatched_rows=[row for row, col in enumerate(row_to_col) if col < 0],
        unmatched_cols=[col for col, row in enumerate(col_to_row) if row < 0],
    )
