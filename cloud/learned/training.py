"""Training a label's classifier from the user's marks: pure, vectors in, plain numbers out.

A logistic regression (scikit-learn, class weights balanced, so a label with few positives
among many negatives is not learned as "never") over the crop vectors of the label's positive
and negative marks. How good it is and where its decision threshold lies are measured on
held-out marks, held out by track: the crops of one track are near-copies of each other, so a
model that saw one of them would be graded on what it memorised. The tracks are dealt into
folds (each fold holding positive and negative tracks); each fold's marks are scored by a model
trained on the other folds only, so every mark gets a held-out probability. The threshold is
the one with the best F1 on those held-out probabilities, and the precision and recall shown
are theirs at it. The classifier that is kept is then trained on every mark.

Enough marks means `MIN_MARKS` crops on each side, from at least `MIN_TRACKS` tracks on each
side (otherwise nothing can be held out by track).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from cloud.learned.logistic import Probabilities, Vectors, probabilities

MIN_MARKS: Final = 5
"""Positive crops, and negative crops, a label needs before a classifier is trained."""
MIN_TRACKS: Final = 2
"""Tracks the positives, and the negatives, must come from (so one can be held out)."""
MAX_FOLDS: Final = 5
"""Folds of tracks for the held-out measurement (fewer when there are fewer tracks)."""
REGULARISATION: Final = 10.0
"""scikit-learn's C (inverse regularisation strength). On the held-out vtest.avi tracks of
tests/bench/bench_labeling.py, C of 1, 10 and 100 came within 0.05 of each other in precision
and recall for every appearance tried; 10 sits in the middle."""


class NotEnoughMarks(ValueError):
    """The marks cannot train and measure a classifier yet; the message says what is missing."""


@dataclass(frozen=True)
class Marks:
    """A label's marked crops: row i of `vectors` (a unit vector) is a crop of `tracks[i]`,
    marked positive when `positive[i]`."""

    vectors: Vectors
    positive: npt.NDArray[np.bool_]
    tracks: Sequence[str]

    def __post_init__(self) -> None:
        if not len(self.vectors) == len(self.positive) == len(self.tracks):
            raise ValueError(
                f"{len(self.vectors)} vectors, {len(self.positive)} values and "
                f"{len(self.tracks)} tracks do not line up"
            )


@dataclass(frozen=True)
class Trained:
    """A trained classifier and how it did on held-out tracks."""

    weights: npt.NDArray[np.float64]
    bias: float
    threshold: float
    """Decision threshold on the probability: a crop has the label from here on."""
    positives: int
    negatives: int
    folds: int
    """How many folds of tracks the marks were held out in."""
    precision: float
    """Of the held-out marks at or above the threshold, the share marked positive."""
    recall: float
    """Of the held-out positives, the share at or above the threshold."""


def track_sides(marks: Marks) -> dict[str, bool]:
    """Each track's side: positive when most of its marks are (a tracker may hand one id to
    two people, so a track can hold both)."""
    rows: dict[str, list[bool]] = defaultdict(list)
    for track, positive in zip(marks.tracks, marks.positive, strict=True):
        rows[track].append(bool(positive))
    return {track: 2 * sum(values) >= len(values) for track, values in rows.items()}


def check_enough(marks: Marks) -> None:
    """Raise `NotEnoughMarks` unless `marks` have `MIN_MARKS` crops and `MIN_TRACKS` tracks
    on each side."""
    positives, negatives = int(marks.positive.sum()), int((~marks.positive).sum())
    sides = list(track_sides(marks).values())
    positive_tracks, negative_tracks = sides.count(True), sides.count(False)
    if (
        positives < MIN_MARKS
        or negatives < MIN_MARKS
        or positive_tracks < MIN_TRACKS
        or negative_tracks < MIN_TRACKS
    ):
        raise NotEnoughMarks(
            f"needs {MIN_MARKS} positive and {MIN_MARKS} negative crops, from {MIN_TRACKS} "
            f"tracks or more each; has {positives} positive ({positive_tracks} tracks) and "
            f"{negatives} negative ({negative_tracks} tracks)"
        )


def track_folds(marks: Marks, folds: int) -> npt.NDArray[np.intp]:
    """The fold of each mark: whole tracks dealt into `folds` folds, positive tracks and
    negative tracks (`track_sides`) separately, so each fold holds some of both when each
    side has `folds` tracks or more.

    Largest tracks first, round robin, so folds hold similar numbers of crops; ties in size
    go by track id, so the deal is the same on every run.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for row, track in enumerate(marks.tracks):
        members[track].append(row)
    sides = track_sides(marks)
    fold_of = np.zeros(len(marks.tracks), dtype=np.intp)
    for side in (True, False):
        side_tracks = sorted(
            (track for track, positive in sides.items() if positive is side),
            key=lambda track: (-len(members[track]), track),
        )
        for turn, track in enumerate(side_tracks):
            fold_of[members[track]] = turn % folds
    return fold_of


def fit(
    vectors: Vectors, positive: npt.NDArray[np.bool_], regularisation: float = REGULARISATION
) -> tuple[npt.NDArray[np.float64], float]:
    """Weights and bias of a logistic regression with balanced class weights."""
    # Imported here: only the training task needs scikit-learn, never the scoring path.
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=regularisation, class_weight="balanced", max_iter=1000)
    model.fit(np.asarray(vectors, dtype=np.float64), positive)
    return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])


def choose_threshold(
    scores: Probabilities, positive: npt.NDArray[np.bool_]
) -> tuple[float, float, float]:
    """(threshold, precision, recall) at the threshold with the best F1 of labelling every
    score at or above it; among equals, the highest threshold. Needs a positive."""
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], positive[order]
    true_positives = np.cumsum(hits)
    taken = np.arange(1, len(ranked) + 1)
    # Only the last of equal scores is a threshold one can draw: all of them or none.
    last_of_equal = np.append(ranked[1:] != ranked[:-1], True)
    precision = true_positives / taken
    recall = true_positives / max(int(positive.sum()), 1)
    f1 = np.where(
        true_positives > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0
    )
    f1 = np.where(last_of_equal, f1, -1.0)
    best = int(np.argmax(f1))  # the first maximum: the highest threshold among equals
    return float(ranked[best]), float(precision[best]), float(recall[best])


def train(marks: Marks, *, regularisation: float = REGULARISATION) -> Trained:
    """Measure on held-out tracks, choose the threshold there, then train on every mark.

    Raises `NotEnoughMarks` (see `check_enough`).
    """
    check_enough(marks)
    sides = list(track_sides(marks).values())
    folds = min(MAX_FOLDS, sides.count(True), sides.count(False))
    fold_of = track_folds(marks, folds)
    held_out = np.zeros(len(marks.positive), dtype=np.float64)
    for fold in range(folds):
        test = fold_of == fold
        weights, bias = fit(marks.vectors[~test], marks.positive[~test], regularisation)
        held_out[test] = probabilities(marks.vectors[test], weights, bias)
    threshold, precision, recall = choose_threshold(held_out, marks.positive)
    weights, bias = fit(marks.vectors, marks.positive, regularisation)
    return Trained(
        weights=weights,
        bias=bias,
        threshold=threshold,
        positives=int(marks.positive.sum()),
        negatives=int((~marks.positive).sum()),
        folds=folds,
        precision=precision,
        recall=recall,
    )
