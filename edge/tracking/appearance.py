"""A cheap appearance descriptor of a box: colour histograms of its upper and lower half.

ByteTrack associates by box overlap alone, so where two people's boxes overlap (crossing, walking
side by side) it can hand one person's track to the other, and a lost track can be taken over by
whoever appears near its drifting prediction. Clothing colour tells most such pairs apart. A
re-identification network would tell more, but costs a second model per box on every frame of
every camera; these histograms cost a colour conversion of the box pixels.

The descriptor: the box shrunk to its central part (less background), split into upper and lower
half (shirt and trousers are told apart, and so are people who wear the same colours the other
way round), each a hue x saturation x value histogram in HSV, where hue survives the lighting
changes of a walk across the scene better than BGR does. Each histogram is normalised to sum 1 and
stored as its square root, so that the Bhattacharyya coefficient of two boxes is a dot product and
a whole track-by-detection matrix is one matrix product.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.sources.base import Image
from edge.tracking.matching import FloatArray

_BINS = [8, 4, 4]
"""Hue, saturation, value bins: hue matters most; value least (shadows, lighting)."""
_RANGES = [0, 180, 0, 256, 0, 256]
_KEEP_WIDTH = 0.6
"""Central fraction of the box width kept: the sides of a person's box are mostly background."""
_KEEP_HEIGHT = 0.9
SIZE = 2 * int(np.prod(_BINS))
"""Length of a descriptor."""


def describe(image: Image, boxes: FloatArray) -> FloatArray:
    """One descriptor per box (rows of x1, y1, x2, y2 in `image` pixels), shape (n, SIZE).

    A box with (almost) no pixels inside the image gets a zero row: similar to nothing.
    """
    height, width = image.shape[:2]
    out = np.zeros((len(boxes), SIZE), dtype=np.float64)
    for row, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        half_w, half_h = (x2 - x1) * _KEEP_WIDTH / 2, (y2 - y1) * _KEEP_HEIGHT / 2
        left, right = max(int(cx - half_w), 0), min(int(np.ceil(cx + half_w)), width)
        top, bottom = max(int(cy - half_h), 0), min(int(np.ceil(cy + half_h)), height)
        if right - left < 2 or bottom - top < 4:
            continue
        hsv = cv2.cvtColor(image[top:bottom, left:right], cv2.COLOR_BGR2HSV)
        middle = hsv.shape[0] // 2
        parts = [
            cv2.calcHist([part], [0, 1, 2], None, _BINS, _RANGES).ravel()
            for part in (hsv[:middle], hsv[middle:])
        ]
        out[row] = np.sqrt(np.concatenate([part / part.sum() for part in parts]) / 2)
    return out


def distance(tracks: FloatArray, detections: FloatArray) -> FloatArray:
    """Hellinger distance in [0, 1] between every track and detection descriptor (0: the same
    colours, 1: no colour in common); a zero row (unknown) is at distance 1 from everything."""
    coefficient = np.clip(tracks @ detections.T, 0.0, 1.0)
    result: FloatArray = np.sqrt(1.0 - coefficient)
    return result
