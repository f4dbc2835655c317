"""`FakeSource`: synthetic video behind the `VideoSource` protocol, for tests and local runs.

Frames show `Sprite`s (checkered rectangles, so a crop of one is sharp) moving at constant speed
over a flat background. Everything is a function of the frame index: two runs give the same
pixels, and `boxes(index)` says where the sprites are on a frame, for scripting a
`edge.detectors.fake.FakeDetector` that sees them. Like `CaptureSource` it decodes into one
reused buffer and stops at `stop`; `fail_after` makes it raise `SourceError` mid-stream, as a
corrupt file or a camera gone for good does; `realtime` paces frames at `fps` (`pacing.Pacer`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from edge.errors import SourceError
from edge.geometry import Box, FrameSize
from edge.sources.base import Frame, Frames, Image
from edge.sources.pacing import Pacer

_CHECKER_PX = 4
_SIZE = FrameSize(320, 240)
_STARTED_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Sprite:
    """A rectangle moving at constant velocity while it is in view."""

    start: Box
    """Where it is on `first_frame`, frame pixels."""
    velocity: tuple[float, float] = (0.0, 0.0)
    """Pixels per frame, (x, y)."""
    color: tuple[int, int, int] = (255, 255, 255)
    """BGR; the checker's other squares are half as bright."""
    first_frame: int = 0
    last_frame: int | None = None
    """Last frame it is in view (inclusive); None: until the end."""

    def box(self, index: int) -> Box | None:
        """Where it is on frame `index`, or None when it is not in view."""
        if index < self.first_frame or (self.last_frame is not None and index > self.last_frame):
            return None
        dx, dy = (v * (index - self.first_frame) for v in self.velocity)
        start = self.start
        return Box(start.x1 + dx, start.y1 + dy, start.x2 + dx, start.y2 + dy)


class FakeSource:
    """A `VideoSource` of `frames` synthetic frames; see the module docstring."""

    def __init__(
        self,
        *,
        frames: int,
        sprites: Sequence[Sprite] = (),
        size: FrameSize = _SIZE,
        fps: float = 10.0,
        background: tuple[int, int, int] = (40, 40, 40),
        fail_after: int | None = None,
        started_at: datetime = _STARTED_AT,
        camera_id: str = "fake",
        realtime: bool = False,
    ) -> None:
        """`fail_after`: raise SourceError instead of frame `fail_after` (that many frames are
        delivered first). `started_at` is the UTC time of timestamp 0. `realtime` delivers
        frame i i/fps seconds after the first, as a camera would."""
        self._frames = frames
        self._sprites = tuple(sprites)
        self._size = size
        self._fps = fps
        self._background = background
        self._fail_after = fail_after
        self._started_at = started_at
        self._camera_id = camera_id
        self._realtime = realtime

    @property
    def started_at(self) -> datetime:
        """UTC wall-clock time of timestamp 0."""
        return self._started_at

    def boxes(self, index: int) -> list[Box]:
        """The boxes of the sprites in view on frame `index`, in sprite order."""
        return [box for sprite in self._sprites if (box := sprite.box(index)) is not None]

    def frames(self, stop: threading.Event) -> Frames:
        """Yield the frames (timestamps `index / fps`) until the last one or `stop`."""
        width, height = self._size
        buffer: Image = np.empty((height, width, 3), dtype=np.uint8)
        pacer = Pacer(0.0) if self._realtime else None
        for index in range(self._frames):
            timestamp = index / self._fps
            if stop.is_set() or (pacer is not None and not pacer.wait(timestamp, stop)):
                return
            if self._fail_after is not None and index >= self._fail_after:
                raise SourceError(
                    f"camera {self._camera_id}: the fake source fails after {self._fail_after} "
                    "frames, as asked"
                )
            self._draw(buffer, index)
            yield Frame(buffer, index, timestamp)

    def _draw(self, image: Image, index: int) -> None:
        image[:] = self._background
        height, width = image.shape[:2]
        for sprite in self._sprites:
            box = sprite.box(index)
            if box is None:
                continue
            x1, y1 = max(math.floor(box.x1), 0), max(math.floor(box.y1), 0)
            x2, y2 = min(math.ceil(box.x2), width), min(math.ceil(box.y2), height)
            if x1 >= x2 or y1 >= y2:
                continue
            # The checker is anchored to the sprite, so it moves with it.
            rows = (np.arange(y1, y2) - math.floor(box.y1)) // _CHECKER_PX
            cols = (np.arange(x1, x2) - math.floor(box.x1)) // _CHECKER_PX
            light = ((rows[:, None] + cols[None, :]) % 2 == 0)[:, :, None]
            color = np.asarray(sprite.color, dtype=np.uint8)
            image[y1:y2, x1:x2] = np.where(light, color, color // 2)
