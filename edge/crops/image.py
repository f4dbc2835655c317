"""Cutting and encoding crops: pure functions over frames (BGR uint8, height x width x 3)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge.geometry import Box, PixelRect
from models.detection import padded_rect

Image = npt.NDArray[np.uint8]


def pixel_rect(box: Box, frame_width: int, frame_height: int, padding: float = 0.0) -> PixelRect:
    """The box grown by `padding` x its width/height on each side, rounded outwards, clipped
    (`models.detection.padded_rect`, which the cloud cuts uploaded images with too).

    Padding gives the embedder and a human some context around a tight detector box. The result
    may be empty (x1 == x2 or y1 == y2) when the box lies outside the frame.
    """
    return PixelRect(*padded_rect(box, frame_width, frame_height, padding))


def cut(frame: Image, rect: PixelRect) -> Image:
    """A copy of the rectangle, so the crop outlives the frame buffer it came from."""
    return frame[rect.y1 : rect.y2, rect.x1 : rect.x2].copy()


def shrink(frame: Image, max_width: int) -> Image:
    """A copy of the frame at most `max_width` pixels wide, aspect ratio kept, never upscaled."""
    height, width = frame.shape[:2]
    if width <= max_width:
        return frame.copy()
    size = (max_width, max(1, round(height * max_width / width)))
    # INTER_AREA: the resampling that does not alias when shrinking.
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA).astype(np.uint8, copy=False)


def encode_jpeg(image: Image, quality: int) -> bytes:
    """JPEG bytes of a BGR image at `quality` (1-100). Raises ValueError for an empty image."""
    if image.size == 0:
        raise ValueError("cannot encode an empty crop")
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode a {image.shape} {image.dtype} image")
    return bytes(buffer)
