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

# One definition of box overlap for the edge, the accuracy tool and export's INT8 gate.
from models.detection import iou_matrix as iou_matrix

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Result of matching rows (tracks) to columns (detections)."""

    pairs: list[tuple[int, int]]
    """(row, column) index pairs, each below the cost limit."""
    unmatched_rows: list[int]
    unmatched_cols: list[int]


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
