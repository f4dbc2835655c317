"""Motion gating: run the detector only when and where something moves.

Per frame the gate updates a MOG2 background model (`cv2.createBackgroundSubtractorMOG2`) on a
small grey copy of the frame, keeps the foreground inside the camera's regions of interest and
outside its masks (polygons in normalised coordinates), and groups it into blobs. It then says
whether the detector runs on this frame:

1. nothing detected yet (the first frame): run;
2. a blob that no tracked object explains (no track box, grown by `margin`, touches it):
   something new entered, run at once, so a newcomer gets the consecutive detections the tracker
   needs to confirm it;
3. motion only on tracked objects: run every `track_interval_s` (0.2 s: every other frame at
   10 fps). The tracker predicts across the skipped frames, but longer gaps still cost identity
   where people cross (`tests/bench/bench_gating.py` on vtest.avi: no track lasting 1 s or more
   lost at 0.2 s, 1 of 36 at 0.3 s, 4 of 36 at 0.5 s);
4. no motion at all: run at most every `idle_interval_s`, so an object that stopped still is
   confirmed and lost tracks end, at almost no cost on a static scene.

Tracks stay alive on gated frames because the pipeline calls neither the detector nor the
tracker there: the tracker's lost-track buffer is in seconds of stream time, checked on an
update, and on the next update its motion model predicts once per frame skipped, so a moving
track's box is where the person went.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from edge.geometry import Box

Point = tuple[
    Annotated[float, Field(ge=0, le=1)],
    Annotated[float, Field(ge=0, le=1)],
]


def _check_polygon(points: tuple[Point, ...]) -> tuple[Point, ...]:
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    # Shoelace formula: a polygon with no area would silently select (or mask) nothing.
    area = 0.5 * abs(float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))
    if area <= 0:
        raise ValueError("a polygon must enclose an area (its points are on one line)")
    return points


Polygon = Annotated[tuple[Point, ...], AfterValidator(_check_polygon)]


class MotionGateSettings(BaseModel):
    """When the detector runs on a camera's frames; see `edge.pipelines.motion_gate`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False,
        description="Skip the detector on frames where nothing moves (python pipeline only). "
        "Off: the detector runs on every sampled frame.",
    )
    width: int = Field(
        default=160,
        ge=32,
        le=1280,
        description="Width in pixels of the grey copy the motion is computed on (height keeps "
        "the frame's aspect).",
    )
    threshold: float = Field(
        default=25.0,
        gt=0,
        description="MOG2 variance threshold: squared distance from the background model for a "
        "pixel to count as moving. Higher ignores more noise and faint motion.",
    )
    history: int = Field(
        default=100,
        ge=2,
        description="Frames the background model remembers; an object that stops still joins "
        "the background after about this many frames.",
    )
    min_area: float = Field(
        default=0.0005,
        gt=0,
        lt=1,
        description="Least area of a moving blob, as a fraction of the frame, for it to count.",
    )
    margin: float = Field(
        default=0.25,
        ge=0,
        le=2,
        description="A track box is grown by this fraction of its width and height on each side "
        "before motion touching it counts as that object moving.",
    )
    track_interval_s: float = Field(
        default=0.2,
        ge=0,
        description="While only tracked objects move, the detector runs at most this often "
        "(seconds of stream time). Longer gaps save more detector calls but lose more "
        "tracks where people cross (measured by tests/bench/bench_gating.py).",
    )
    idle_interval_s: float = Field(
        default=5.0,
        ge=0,
        description="The detector runs at least this often even when nothing moves (confirms "
        "objects that stopped still, ends lost tracks).",
    )
    roi: tuple[Polygon, ...] = Field(
        default=(),
        description="Regions of interest: polygons of [x, y] points in normalised frame "
        "coordinates (0..1, origin top left); only motion inside them counts. Empty: the whole "
        "frame.",
    )
    masks: tuple[Polygon, ...] = Field(
        default=(),
        description="Polygons, like roi, whose motion never counts (trees, screens, a road "
        "outside the site).",
    )

    @model_validator(mode="after")
    def _check_intervals(self) -> MotionGateSettings:
        if self.track_interval_s > self.idle_interval_s:
            raise ValueError("need track_interval_s <= idle_interval_s")
        return self


Gray = npt.NDArray[np.uint8]
Blob = tuple[float, float, float, float]
"""A moving blob's bounding box, normalised (x1, y1, x2, y2)."""
_TOLERANCE_S = 1e-3


class MotionGate:
    """One camera's gate. Not thread-safe: the camera's thread calls it, frame after frame."""

    def __init__(self, settings: MotionGateSettings) -> None:
        self._settings = settings
        self._subtractor = cv2.createBackgroundSubtractorMOG2(
            history=settings.history, varThreshold=settings.threshold, detectShadows=False
        )
        self._size: tuple[int, int] | None = None
        self._region: Gray | None = None
        self._last_detect: float | None = None
        self._tracks: list[Box] = []
        self._frame_size = (1, 1)

    def should_detect(self, image: npt.NDArray[np.uint8], timestamp: float) -> bool:
        """Feed one frame (BGR or grey) to the background model; True when the detector should
        run on it. Every frame must be fed, gated or not, so the background stays current."""
        blobs = self._moving_blobs(image)
        since = None if self._last_detect is None else timestamp - self._last_detect
        if since is None or since < 0:
            return True
        if any(not self._explained(blob) for blob in blobs):
            return True
        interval = self._settings.track_interval_s if blobs else self._settings.idle_interval_s
        # The tolerance: 0.3 - 0.1 < 0.2 in floating point, and a frame late is a whole frame.
        return since >= interval - _TOLERANCE_S

    def detected(self, timestamp: float, tracks: Iterable[Box]) -> None:
        """The detector ran on the frame at `timestamp`; `tracks` are the boxes (frame pixels)
        of the tracks it left alive, live or lost."""
        self._last_detect = timestamp
        self._tracks = list(tracks)

    def _moving_blobs(self, image: npt.NDArray[np.uint8]) -> list[Blob]:
        """Blobs of foreground inside the region, as normalised (x1, y1, x2, y2)."""
        height, width = image.shape[:2]
        self._frame_size = (width, height)
        size = (self._settings.width, max(1, round(height * self._settings.width / width)))
        if size != self._size or self._region is None:
            self._size, self._region = size, self._region_mask(size)
        region = self._region
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        # A light blur: single-pixel sensor noise and compression blocks are not motion.
        small = cv2.GaussianBlur(small, (3, 3), 0)
        foreground = self._subtractor.apply(small)
        foreground = cv2.bitwise_and(foreground, region)
        foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
        least = self._settings.min_area * size[0] * size[1]
        blobs = []
        for x, y, w, h, area in stats[1:count]:
            if area >= least:
                blobs.append((x / size[0], y / size[1], (x + w) / size[0], (y + h) / size[1]))
        return blobs

    def _explained(self, blob: Blob) -> bool:
        """Whether a tracked object (its box grown by the margin) touches the blob."""
        width, height = self._frame_size
        margin = self._settings.margin
        for box in self._tracks:
            grow_x, grow_y = margin * (box.x2 - box.x1), margin * (box.y2 - box.y1)
            x1, x2 = (box.x1 - grow_x) / width, (box.x2 + grow_x) / width
            y1, y2 = (box.y1 - grow_y) / height, (box.y2 + grow_y) / height
            if blob[0] < x2 and x1 < blob[2] and blob[1] < y2 and y1 < blob[3]:
                return True
        return False

    def _region_mask(self, size: tuple[int, int]) -> Gray:
        """255 where motion counts: inside a region of interest (all of it without one), outside
        every mask."""
        width, height = size
        scale = np.array([width, height], dtype=np.float64)
        settings = self._settings
        if settings.roi:
            region = np.zeros((height, width), np.uint8)
            for polygon in settings.roi:
                points = np.round(np.array(polygon) * scale).astype(np.int32)
                cv2.fillPoly(region, [points], 255)
        else:
            region = np.full((height, width), 255, np.uint8)
        for polygon in settings.masks:
            points = np.round(np.array(polygon) * scale).astype(np.int32)
            cv2.fillPoly(region, [points], 0)
        return region
