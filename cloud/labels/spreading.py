"""The spreading rule: how sure we are that unmarked crops have a label, from its marks alone.

Pure arithmetic on unit vectors, shared by the suggestions of existing crops, the scoring of new
ones in the embed worker and the labelling benchmark, so that all three agree.

A crop is suggested when its best cosine similarity to a positive reaches the label's positive
threshold, and no negative is nearer than that positive or a near-duplicate of it (at or above
the negative threshold): one negative click stops a crop and its near-copies from coming back,
while a positive that is only a little less similar still spreads. The confidence rises
linearly from 0 at the positive threshold to 1 at an exact copy of a positive.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


def best_similarity(candidates: Vectors, references: Vectors) -> npt.NDArray[np.float32]:
    """Each candidate's highest cosine similarity to any reference (unit rows); -1 if none."""
    if len(references) == 0:
        return np.full(len(candidates), -1.0, dtype=np.float32)
    return np.asarray((candidates @ references.T).max(axis=1), dtype=np.float32)


def spread_confidence(
    candidates: Vectors,
    positives: Vectors,
    negatives: Vectors,
    *,
    positive_threshold: float,
    negative_threshold: float,
) -> npt.NDArray[np.float32]:
    """Confidence in [0, 1] that each candidate has the label; 0: not suggested.

    All arrays hold unit vectors as rows, of one dimension. See the module docstring.
    """
    if not -1.0 <= positive_threshold < 1.0 or not -1.0 <= negative_threshold <= 1.0:
        raise ValueError(
            f"thresholds must be cosines, the positive one below 1: got {positive_threshold}, "
            f"{negative_threshold}"
        )
    to_positive = best_similarity(candidates, positives)
    to_negative = best_similarity(candidates, negatives)
    suggested = (
        (to_positive >= positive_threshold)
        & (to_negative < negative_threshold)
        & (to_positive > to_negative)
    )
    confidence = (to_positive - positive_threshold) / (1.0 - positive_threshold)
    return np.where(suggested, np.clip(confidence, 0.0, 1.0), 0.0).astype(np.float32)
