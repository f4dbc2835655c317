"""The arithmetic of a learned label's classifier, numpy only.

A classifier is a logistic regression over the crop vector: plain numbers (weights, a bias, a
decision threshold on the probability), so the embed worker and the backfill score crops with
one matrix product and never load the library that trained it (`cloud.learned.training`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Probabilities = npt.NDArray[np.float64]


def probabilities(
    vectors: Vectors, weights: npt.NDArray[np.float64], bias: npt.ArrayLike
) -> Probabilities:
    """The probability that each row of `vectors` has the label.

    `weights` is one classifier's (d,) or several classifiers' (k, d) stacked, with `bias` a
    number or (k,); the result is (n,) or (n, k).
    """
    logits = np.asarray(vectors, dtype=np.float64) @ np.asarray(weights).T + np.asarray(bias)
    # exp of a large negative logit overflows to inf, which is harmless here (1 / inf = 0), so
    # the warning is silenced rather than the logits clipped.
    with np.errstate(over="ignore"):
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)


def confidence(probability: npt.NDArray[np.float64], threshold: float) -> npt.NDArray[np.float64]:
    """A classifier's probability as a `Score` confidence: 0.5 at its own decision threshold.

    Each version's threshold is chosen on held-out marks and may lie anywhere in [0, 1], while
    readers of scores (search's label filter, alerts, dataset exports) compare confidences
    across labels and versions; stretching [0, threshold] onto [0, 0.5] and [threshold, 1]
    onto [0.5, 1] keeps the order of crops and makes 0.5 mean "the classifier says yes".
    """
    p = np.asarray(probability, dtype=np.float64)
    below = 0.5 * p / threshold if threshold > 0 else np.ones_like(p)
    above = 0.5 + 0.5 * (p - threshold) / (1.0 - threshold) if threshold < 1 else np.ones_like(p)
    return np.asarray(np.clip(np.where(p >= threshold, above, below), 0.0, 1.0))
