"""What every part of the edge means by a box, a pixel rectangle and a frame size.

`PixelBox` is the protocol (anything with x1, y1, x2, y2 in frame pixels); `Box` is the float
rectangle the tracker reports and the crops keep; `PixelRect` the integer rectangle a crop cuts
out of a frame; `FrameSize` the size of the decoded frame they refer to. Boxes are in pixels of
the decoded frame everywhere on the edge; only the wire conversion (`edge.wire`) normalises them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from models.detection import BoxLike

PixelBox = BoxLike
"""An axis-aligned rectangle in frame pixels: (x1, y1) top-left, (x2, y2) bottom-right.

Detections, tracker boxes (`Box`) and crop rectangles (`PixelRect`) all satisfy it; it is the
protocol the shared crop rectangle (`models.detection.padded_rect`) takes.
"""


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in frame pixels: (x1, y1) top-left, (x2, y2) bottom-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        """Box width in pixels (never negative)."""
        return max(0.0, self.x2 - self.x1)

    @property
    def height(self) -> float:
        """Box height in pixels (never negative)."""
        return max(0.0, self.y2 - self.y1)

    @property
    def area(self) -> float:
        """Box area in square pixels."""
        return self.width * self.height


class PixelRect(NamedTuple):
    """Integer pixel rectangle inside a frame: rows y1..y2-1, columns x1..x2-1."""

    x1: int
    y1: int
    x2: int
    y2: int


class FrameSize(NamedTuple):
    """Size of a decoded frame in pixels."""

    width: int
    height: int
