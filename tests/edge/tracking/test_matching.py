from __future__ import annotations

import numpy as np
import pytest

from edge.tracking.matching import assign, fused_cost, iou_matrix


def test_iou_of_known_boxes() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array(
        [
            [0.0, 0.0, 10.0, 10.0],  # identical
            [5.0, 0.0, 15.0, 10.0],  # half overlap: 50 / 150
            [20.0, 20.0, 30.0, 30.0],  # disjoint
            [3.0, 3.0, 3.0, 3.0],  # degenerate, zero area
        ]
    )
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 1 / 3, 0.0, 0.0]])


def test_iou_matrix_of_empty_sets_has_the_right_shape() -> None:
    boxes = np.array([[0.0, 0.0, 1.0, 1.0]])
    assert iou_matrix(boxes, np.zeros((0, 4))).shape == (1, 0)
    assert iou_matrix(np.zeros((0, 4)), boxes).shape == (0, 1)


def test_fused_cost_prefers_the_confident_detection_at_equal_overlap() -> None:
    cost = fused_cost(np.array([[0.5, 0.5]]), np.array([0.9, 0.3]))
    np.testing.assert_allclose(cost, [[0.55, 0.85]])


def test_assign_finds_the_global_minimum_not_the_greedy_one() -> None:
    # Greedy would give row 0 column 0 (0.1), forcing row 1 onto column 1 (0.9): total 1.0.
    cost = np.array([[0.1, 0.2], [0.3, 0.9]])
    result = assign(cost, cost_limit=0.95)
    assert sorted(result.pairs) == [(0, 1), (1, 0)]
    assert result.unmatched_rows == []
    assert result.unmatched_cols == []


def test_assign_leaves_pairs_above_the_limit_unmatched() -> None:
    cost = np.array([[0.1, 0.95], [0.97, 0.99], [0.99, 0.99]])
    result = assign(cost, cost_limit=0.8)
    assert result.pairs == [(0, 0)]
    assert result.unmatched_rows == [1, 2]
    assert result.unmatched_cols == [1]


@pytest.mark.parametrize("shape", [(0, 3), (2, 0), (0, 0)])
def test_assign_on_an_empty_side_leaves_everything_unmatched(shape: tuple[int, int]) -> None:
    result = assign(np.zeros(shape), cost_limit=0.5)
    assert result.pairs == []
    assert result.unmatched_rows == list(range(shape[0]))
    assert result.unmatched_cols == list(range(shape[1]))
