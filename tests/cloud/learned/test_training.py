"""Training a classifier from marks: enough marks, folds by track, threshold, held-out figures."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.learned.logistic import confidence, probabilities
from cloud.learned.training import (
    Marks,
    NotEnoughMarks,
    check_enough,
    choose_threshold,
    track_folds,
    train,
)


def unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def separable(tracks_per_side: int = 4, crops_per_track: int = 2) -> Marks:
    """Positives around (1, 0, 0, 0), negatives around (0, 1, 0, 0); a track's crops close."""
    rows, positive, tracks = [], [], []
    for side, axis in ((True, 0), (False, 1)):
        for t in range(tracks_per_side):
            for c in range(crops_per_track):
                row = [0.1 * t, 0.1 * c, 0.2, 0.05 * t]
                row[axis] = 1.0
                rows.append(row)
                positive.append(side)
                tracks.append(f"{'p' if side else 'n'}{t}")
    return Marks(unit(rows), np.asarray(positive), tracks)


def test_it_needs_five_crops_from_two_tracks_on_each_side() -> None:
    check_enough(separable(tracks_per_side=2, crops_per_track=3))
    with pytest.raises(NotEnoughMarks, match=r"has 4 positive \(2 tracks\) and 4 negative"):
        check_enough(separable(tracks_per_side=2, crops_per_track=2))
    one_track = separable(tracks_per_side=1, crops_per_track=6)
    with pytest.raises(NotEnoughMarks, match=r"6 positive \(1 tracks\)"):
        check_enough(one_track)


def test_folds_keep_each_track_whole_and_hold_both_sides() -> None:
    marks = separable(tracks_per_side=5, crops_per_track=3)
    folds = track_folds(marks, 3)
    for track in set(marks.tracks):
        assert len({folds[i] for i, t in enumerate(marks.tracks) if t == track}) == 1
    for fold in range(3):
        assert set(marks.positive[folds == fold]) == {True, False}


def test_a_track_mostly_positive_counts_as_a_positive_track() -> None:
    marks = Marks(
        unit([[1, 0, 0, 0]] * 4),
        np.array([True, True, False, False]),
        ["mixed", "mixed", "mixed", "other"],
    )
    folds = track_folds(marks, 2)
    # "mixed" (2 of 3 positive) is dealt as the first positive track, "other" as a negative.
    assert list(folds) == [0, 0, 0, 0]


def test_the_threshold_has_the_best_f1_of_the_held_out_scores() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3])
    positive = np.array([True, True, False, True, False, False])
    # At 0.6: 3 of 4 taken are positive, every positive taken: F1 0.857 beats 0.8 at 0.8.
    threshold, precision, recall = choose_threshold(scores, positive)
    assert (threshold, precision, recall) == (0.6, 0.75, 1.0)


def test_equal_scores_are_all_taken_or_none() -> None:
    scores = np.array([0.9, 0.5, 0.5])
    positive = np.array([True, True, False])
    # Taking the first 0.5 alone would look perfect, but a threshold of 0.5 takes both.
    threshold, precision, recall = choose_threshold(scores, positive)
    assert (threshold, recall) == (0.5, 1.0)
    assert precision == pytest.approx(2 / 3)


def test_separable_marks_train_a_perfect_classifier_that_scores_new_crops() -> None:
    trained = train(separable())
    assert (trained.positives, trained.negatives, trained.folds) == (8, 8, 4)
    assert (trained.precision, trained.recall) == (1.0, 1.0)
    assert trained.weights.shape == (4,)
    new = unit([[1, 0.05, 0.1, 0], [0.05, 1, 0.1, 0]])
    yes, no = probabilities(new, trained.weights, trained.bias)
    assert yes >= trained.threshold > no


def test_training_is_deterministic() -> None:
    first, second = train(separable()), train(separable())
    np.testing.assert_array_equal(first.weights, second.weights)
    assert first.threshold == second.threshold


def test_held_out_tracks_are_never_seen_by_the_model_that_scores_them() -> None:
    # Every track's crops are identical copies, and one positive track sits among the
    # negatives: a model that saw it would score it positive; held out, it is missed.
    rows = [[1, 0, 0, 0]] * 6 + [[0, 1, 0, 0]] * 6 + [[0, 1, 0.01, 0]] * 2
    positive = np.array([True] * 6 + [False] * 6 + [True] * 2)
    tracks = ["p0"] * 3 + ["p1"] * 3 + ["n0"] * 3 + ["n1"] * 3 + ["odd"] * 2
    trained = train(Marks(unit(rows), positive, tracks))
    assert trained.recall == pytest.approx(6 / 8)


def test_scoring_several_classifiers_at_once_matches_one_by_one() -> None:
    vectors = unit([[1, 2, 3, 4], [4, 3, 2, 1], [1, 0, 0, 1]])
    weights = np.array([[1.0, -1.0, 0.5, 0.0], [0.0, 2.0, -1.0, 1.0]])
    bias = np.array([0.1, -0.3])
    stacked = probabilities(vectors, weights, bias)
    for k in range(2):
        np.testing.assert_allclose(stacked[:, k], probabilities(vectors, weights[k], bias[k]))
    assert probabilities(vectors, weights[0] * 1e4, 0.0).min() >= 0.0


def test_confidence_is_one_half_at_the_threshold_and_keeps_the_order() -> None:
    p = np.array([0.0, 0.1, 0.2, 0.6, 1.0])
    np.testing.assert_allclose(confidence(p, 0.2), [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(confidence(p, 1.0)[-1], 1.0)
    np.testing.assert_allclose(confidence(p, 0.0), [0.5, 0.55, 0.6, 0.8, 1.0])
