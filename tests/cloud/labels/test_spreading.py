"""The spreading rule on fixed vectors."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.labels.spreading import best_similarity, spread_confidence


def unit(*rows: list[float]) -> np.ndarray:
    array = np.asarray(rows, dtype=np.float32)
    normalised: np.ndarray = array / np.linalg.norm(array, axis=1, keepdims=True)
    return normalised


def at_angle(cosine: float) -> list[float]:
    """A unit vector in the x-y plane whose cosine with (1, 0, 0) is `cosine`."""
    return [cosine, float(np.sqrt(1 - cosine**2)), 0.0]


POSITIVE = unit([1.0, 0.0, 0.0])
NONE = np.zeros((0, 3), dtype=np.float32)


def spread(candidates: np.ndarray, negatives: np.ndarray = NONE) -> list[float]:
    confidence = spread_confidence(
        candidates, POSITIVE, negatives, positive_threshold=0.9, negative_threshold=0.99
    )
    return [round(float(value), 3) for value in confidence]


def test_confidence_rises_from_the_positive_threshold_to_a_copy() -> None:
    assert spread(unit([1, 0, 0], at_angle(0.95), at_angle(0.9), at_angle(0.89))) == [
        1.0,
        0.5,
        0.0,
        0.0,
    ]


def test_a_near_duplicate_of_a_negative_is_never_suggested() -> None:
    negative = unit(at_angle(0.95))
    # The first candidate is the negative itself, the second a copy of the positive that the
    # negative is far enough from.
    assert spread(unit(at_angle(0.95), [1, 0, 0]), negative) == [0.0, 1.0]


def angle(degrees: float) -> list[float]:
    """A unit vector in the x-y plane, `degrees` from the positive."""
    return [float(np.cos(np.radians(degrees))), float(np.sin(np.radians(degrees))), 0.0]


def test_a_crop_nearer_a_negative_than_any_positive_is_not_suggested() -> None:
    # The candidate is 0.92 from the positive and 0.97 from the negative (not a near-duplicate
    # of it, but nearer it): out. A crop on the other side of the positive is in.
    candidate = float(np.degrees(np.arccos(0.92)))
    negative = unit(angle(candidate + float(np.degrees(np.arccos(0.97)))))
    other_side = angle(-float(np.degrees(np.arccos(0.95))))
    assert spread(unit(angle(candidate), other_side), negative) == [0.0, 0.5]
    assert spread(unit(angle(candidate), other_side)) == [0.2, 0.5]


def test_no_positives_suggest_nothing() -> None:
    empty = spread_confidence(
        unit([1, 0, 0]), NONE, NONE, positive_threshold=0.9, negative_threshold=0.99
    )
    assert empty.tolist() == [0.0]
    assert best_similarity(unit([1, 0, 0]), NONE).tolist() == [-1.0]


def test_thresholds_must_be_cosines() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        spread_confidence(POSITIVE, POSITIVE, NONE, positive_threshold=1.0, negative_threshold=0.99)
