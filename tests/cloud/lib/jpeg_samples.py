"""Small JPEGs made by OpenCV, and crafted ones whose header declares another size."""

from __future__ import annotations

import cv2
import numpy as np


def encode(width: int, height: int, *flags: int) -> bytes:
    """A flat grey JPEG of `width` x `height` pixels (OpenCV's encoder, `flags` as imwrite)."""
    image = np.full((height, width, 3), 127, np.uint8)
    ok, jpeg = cv2.imencode(".jpg", image, list(flags))
    assert ok
    return bytes(jpeg)


def declaring(width: int, height: int) -> bytes:
    """A real 16x8 JPEG whose frame header is rewritten to declare `width` x `height`.

    A few hundred bytes that a decoder would answer by allocating the declared image: how a
    hostile device would try to exhaust an embed worker's memory.
    """
    data = bytearray(encode(16, 8))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)
