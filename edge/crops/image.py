"""Cutting and encoding crops: pure functions over frames (BGR uint8, height x width x 3)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from edge.geometry import Box, PixelRect

Image = npt.NDArray[np.uint8]


def pixel_rect(box: Box, frame_width: int, frame_height: int, padding: float = 0.0) -> PixelRect:
    """The box grown by `padding` x its width/height on each side, rounded outwards, clipped.

    Padding gives the embedder and a human some context around a tight detector box. The result
    may be empty (x1 == x2 or y1 == y2) when the box lies outside the frame.
    """
    pad_x = box.width * padding
    pad_y = box.height * padding
    x1 = min(max(math.floor(box.x1 - pad_x), 0), frame_width)
    y1 = min(max(math.floor(box.y1 - pad_y), 0), frame_height)
    x2 = min(max(math.ceil(box.x2 + pad_x), x1), frame_width)
    y2 = min(max(math.ceil(box.y2 + pad_y), y1), frame_height)
    return PixelRect(x1, y1, x2, y2)


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
