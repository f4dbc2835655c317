"""The layout of a crop's vector: the network's features, sketched short, beside colour by part.

A crop vector is `[NETWORK_WEIGHT * sketch(network) ; COLOUR_WEIGHT * colour]`, made unit
length, where `network` is the mean of the MobileNetV2 stripes model's four unit vectors (one
per horizontal band of the crop, `models/mobilenetv2-stripes.toml`), made unit length, and
`colour` the part colour descriptor of `cloud.embeddings.colour_parts` (unit length). The
cosine of two crop vectors is then close to a weighted mean of the two parts' cosines, weights
`NETWORK_WEIGHT²` and `COLOUR_WEIGHT²`. Averaging unit stripes weighs each band of the body
alike (a global mean pool lets the busiest band dominate).

The network part is shortened by a count sketch (feature hashing): each of the 1280 inputs is
added, with a sign, to one of `SKETCH_DIMENSION` outputs, both chosen by a hash of its index.
Inner products are preserved in expectation, so the network's similarities survive at a tenth
of the length (the retrieval benchmark measures the loss), a million vectors fit in memory,
and nothing is learned: the matrix is a pure function of the two sizes. The four stripes are
not kept apart: side by side (5120 values) they rank better (person mAP 0.407 against 0.357
on the eval half of vtest.avi), but a sketch of them to 128 or 176 values loses all of that
gain (0.357-0.359), so only a projection learned from tracks could keep it.

`NETWORK_WEIGHT` was chosen on the first half of vtest.avi with `tests/bench/bench_retrieval.py`,
by person mAP of crops ranking crops and of crops ranking tracks (what the similar search
returns): 0.325/0.603 for weight 0.85, 0.324/0.617 for 0.9, 0.319/0.622 for 0.95, 0.304/0.608
for the network alone; the benchmark's figures come from the second half. Changing anything
here changes every vector: `cloud.embeddings.spec.CROP_VECTOR_COLLECTION` must change with it.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Final

import numpy as np
import numpy.typing as npt

from cloud.embeddings import colour_parts

Vectors = npt.NDArray[np.float32]

STRIPES: Final = 4
"""Horizontal bands the network's output has, top to bottom."""
NETWORK_DIMENSION: Final = 1280
"""Length of each band's vector in the network's output."""
SKETCH_DIMENSION: Final = 128
"""Length of the network part after the count sketch."""
NETWORK_WEIGHT: Final = 0.9
"""Weight of the network part; the colour part's makes the squares sum to one."""
COLOUR_WEIGHT: Final = float(np.sqrt(1 - NETWORK_WEIGHT**2))
DIMENSION: Final = SKETCH_DIMENSION + colour_parts.DIMENSION
"""Length of a crop vector."""


@functools.cache
def sketch_matrix() -> npt.NDArray[np.float32]:
    """The count sketch: `NETWORK_DIMENSION` x `SKETCH_DIMENSION`, one +-1 per row.

    Row i's column and sign come from the first bytes of sha256(b"sketch:<i>"), so the matrix
    is the same on every machine and numpy version.
    """
    matrix = np.zeros((NETWORK_DIMENSION, SKETCH_DIMENSION), dtype=np.float32)
    for row in range(NETWORK_DIMENSION):
        digest = hashlib.sha256(f"sketch:{row}".encode()).digest()
        column = int.from_bytes(digest[:4], "big") % SKETCH_DIMENSION
        matrix[row, column] = 1.0 if digest[4] & 1 else -1.0
    return matrix


def compose(network: npt.NDArray[np.float32], colour: Vectors) -> Vectors:
    """Crop vectors (rows, unit length) from the network's outputs (crops x `STRIPES` x
    `NETWORK_DIMENSION`, each band of unit length) and the colour descriptor's rows."""
    pooled = network.mean(axis=1)
    sketched = pooled @ sketch_matrix()
    sketched /= np.maximum(np.linalg.norm(sketched, axis=1, keepdims=True), 1e-12)
    joined = np.hstack([NETWORK_WEIGHT * sketched, COLOUR_WEIGHT * colour])
    norms = np.maximum(np.linalg.norm(joined, axis=1, keepdims=True), 1e-12)
    result: Vectors = (joined / norms).astype(np.float32)
    return result
