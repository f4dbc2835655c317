"""Where the detection box lies inside its crop.

The edge cuts each crop as the box grown by a padding fraction on every side, rounded outwards
and clipped to the frame (`edge.crops.image.pixel_rect`), and sends that region's normalised
rectangle as ``crop_box``. The cloud keeps the box and the frame size but not ``crop_box``, so
the box's place in the crop is found again from the crop's pixel size: for each axis, the
padding (in pixels) whose clipped, rounded rectangle has the crop's length. A crop that no
padding explains (cut some other way) is taken as the box itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PixelBox:
    """A rectangle in crop pixels: columns x1..x2-1, rows y1..y2-1."""

    x1: int
    y1: int
    x2: int
    y2: int

    @property
    def width(self) -> int:
        """Columns covered."""
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        """Rows covered."""
        return self.y2 - self.y1


def _axis(low: float, high: float, frame: int, crop: int) -> tuple[int, int]:
    """Where [low, high) (frame pixels) lies in a crop of `crop` pixels cut around it."""

    def cut(pad: float) -> tuple[int, int]:
        start = min(max(math.floor(low - pad), 0), frame)
        end = min(max(math.ceil(high + pad), start), frame)
        return start, end

    # The cut's length never shrinks as the padding grows: bisect for the smallest padding
    # whose cut is as long as the crop.
    lo, hi = 0.0, float(frame)
    for _ in range(40):
        mid = (lo + hi) / 2
        start, end = cut(mid)
        if end - start >= crop:
            hi = mid
        else:
            lo = mid
    start, end = cut(hi)
    if end - start != crop:
        return 0, crop
    first = min(max(round(low) - start, 0), crop - 1)
    last = min(max(round(high) - start, first + 1), crop)
    return first, last


def box_in_crop(
    box: tuple[float, float, float, float],
    frame_size: tuple[int, int],
    crop_size: tuple[int, int],
) -> PixelBox:
    """The detection box in the crop's pixels.

    `box` is normalised (x_min, y_min, x_max, y_max) as stored on `Detection`, `frame_size`
    and `crop_size` are (width, height) in pixels.
    """
    x_min, y_min, x_max, y_max = box
    frame_width, frame_height = frame_size
    crop_width, crop_height = crop_size
    x1, x2 = _axis(x_min * frame_width, x_max * frame_width, frame_width, crop_width)
    y1, y2 = _axis(y_min * frame_height, y_max * frame_height, frame_height, crop_height)
    return PixelBox(x1, y1, x2, y2)
