from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.footage.clips import VTEST, source


@pytest.fixture(scope="session")
def vtest_frames() -> list[np.ndarray]:
    """The first 10 frames of vtest.avi (real CCTV pedestrians, 768x576 BGR)."""
    capture = cv2.VideoCapture(str(source(VTEST)))
    frames: list[np.ndarray] = []
    try:
        while len(frames) < 10:
            ok, frame = capture.read()
            assert ok, "vtest.avi ended early"
            frames.append(frame)
    finally:
        capture.release()
    return frames
