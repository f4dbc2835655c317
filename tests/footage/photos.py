"""Real photos with faces, from Debian packages (labelme-examples, opencv-doc)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.models.built_models import unavailable

LABELME = Path(
    "/usr/share/doc/labelme-examples/examples/bbox_detection/data_dataset_voc/JPEGImages"
)
OPENCV = Path("/usr/share/doc/opencv-doc/examples/data")
SOFA = LABELME / "2011_000006.jpg"
"""Three people on a sofa, faces towards the camera (a fourth far behind, too small)."""
TWO_PEOPLE = LABELME / "2011_000003.jpg"
"""Two men outdoors, faces towards the camera."""
MESSI = OPENCV / "messi5.jpg"
"""A footballer, face towards the camera; a second player cut off at the left edge."""


def photo(path: Path) -> np.ndarray:
    """The photo, BGR; skips (or fails under CI) when its Debian package is missing."""
    image = cv2.imread(str(path))
    if image is None:
        unavailable(f"{path} is missing: apt-get install labelme-examples opencv-doc")
    return image
