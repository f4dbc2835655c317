"""What every part of the edge means by a box."""

from __future__ import annotations

from typing import Protocol


class PixelBox(Protocol):
    """An axis-aligned rectangle in frame pixels: (x1, y1) top-left, (x2, y2) bottom-right.

    Detections, tracker boxes (`edge.tracking.base.Box`) and crop rectangles
    (`edge.crops.image.PixelRect`) all satisfy it.
    """

    @property
    def x1(self) -> float:
        """Left edge."""

    @property
    def y1(self) -> float:
        """Top edge."""

    @property
    def x2(self) -> float:
        """Right edge (exclusive)."""

    @property
    def y2(self) -> float:
        """Bottom edge (exclusive)."""
