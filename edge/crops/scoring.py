"""How good a detection is as the picture of its track: pure functions, no state.

quality = detection score x box area (as a fraction of the frame) x sharpness term x border term.

- Area: a bigger box carries more pixels of the object for the embedder and for a human.
- Sharpness: the variance of the Laplacian (Pech-Pacheco et al., 2000), a cheap focus/motion-blur
  measure. It is squashed as s / (s + reference) so that, past "sharp enough", busy texture or
  sensor noise cannot outweigh the other terms.
- Border: a box touching the frame edge is probably cut off, so it is down-weighted, not excluded
  (an object that only ever appears at the edge still gets a crop).

Qualities are compared only within one track, so their absolute scale means nothing.
"""

from __future__ import annotations

import cv2

from edge.crops.image import Image
from edge.geometry import Box


def sharpness(image: Image) -> float:
    """Variance of the Laplacian of a BGR or grayscale image; 0 for an empty or flat one."""
    if image.size == 0:
        return 0.0
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def touches_border(box: Box, frame_width: int, frame_height: int, margin_px: float) -> bool:
    """Whether the box comes within `margin_px` of any frame edge (so is likely cut off)."""
    return (
        box.x1 <= margin_px
        or box.y1 <= margin_px
        or box.x2 >= frame_width - margin_px
        or box.y2 >= frame_height - margin_px
    )


def crop_quality(
    *,
    score: float,
    box: Box,
    frame_width: int,
    frame_height: int,
    sharpness_value: float,
    sharpness_reference: float,
    border_margin_px: float,
    border_penalty: float,
) -> float:
    """Quality of a detection as a crop (see the module docstring); 0 for an empty box."""
    visible = Box(
        max(box.x1, 0.0),
        max(box.y1, 0.0),
        min(box.x2, float(frame_width)),
        min(box.y2, float(frame_height)),
    )
    area_fraction = visible.area / float(frame_width * frame_height)
    sharpness_term = sharpness_value / (sharpness_value + sharpness_reference)
    border_term = (
        border_penalty if touches_border(box, frame_width, frame_height, border_margin_px) else 1.0
    )
    return score * area_fraction * sharpness_term * border_term
