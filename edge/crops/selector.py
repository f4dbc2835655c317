"""Per-track best-crop selection: `CropSettings`, `BestCropSelector` and its output `BestCrop`.

For every NEW/UPDATED track update the selector scores the detection on its frame
(`scoring.crop_quality`) and keeps the `top_k` best candidates of the track, each as a padded copy
of its pixels (frames are not kept). It emits them, JPEG-encoded and best first:

- when the track ends (ENDED update), the best of what is left; and
- for a long track, every `emit_interval_s` seconds, the best of that window, so a person loitering
  for an hour shows up in the cloud within seconds, not when they leave.

LOST updates carry a predicted box, not pixels of the object, so they are never candidates.
Each emitted crop gets its id (UUIDv7) here, where the crop is created (DESIGN.md, identity).
"""

from __future__ import annotations

import bisect
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field
from uuid6 import uuid7

from edge.crops.image import Image, cut, encode_jpeg, pixel_rect
from edge.crops.scoring import crop_quality, sharpness
from edge.geometry import Box, PixelRect
from edge.tracking.base import TrackState, TrackUpdate

logger = logging.getLogger(__name__)


class CropSettings(BaseModel):
    """How crops are chosen, cut and encoded; one set per camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(
        default=1, ge=1, description="Crops emitted per track per emission, best first."
    )
    emit_interval_s: float | None = Field(
        default=10.0,
        gt=0,
        description="For tracks that last longer, emit the best crops of every window of this "
        "many seconds; null emits only when the track ends.",
    )
    padding: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Context added around the detection box, as a fraction of its width/height "
        "on each side.",
    )
    jpeg_quality: int = Field(default=90, ge=1, le=100, description="JPEG quality (1-100).")
    sharpness_reference: float = Field(
        default=100.0,
        gt=0,
        description="Laplacian variance at which the sharpness term is one half.",
    )
    border_margin_px: float = Field(
        default=2.0,
        ge=0,
        description="A box this close to a frame edge counts as touching it (likely cut off).",
    )
    border_penalty: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Quality factor for boxes touching a frame edge.",
    )


class EmitReason(enum.Enum):
    """Why a crop was emitted."""

    TRACK_ENDED = "track_ended"
    INTERVAL = "interval"


@dataclass(frozen=True, slots=True)
class BestCrop:
    """One crop ready to send: JPEG bytes plus what the cloud needs to file it."""

    crop_id: str
    """UUIDv7, created here and kept unchanged through every retry."""
    track_number: int
    rank: int
    """0 for the best crop of this emission, 1 for the next, up to top_k - 1."""
    reason: EmitReason
    jpeg: bytes
    box: Box
    """The detection box, frame pixels."""
    crop_rect: PixelRect
    """The padded rectangle the JPEG shows, frame pixels."""
    score: float
    quality: float
    sharpness: float
    class_id: int
    """The track's majority class when the crop was emitted."""
    label: str
    frame_index: int
    """Frame the crop was cut from."""
    timestamp: float
    """Timestamp of that frame, seconds."""


@dataclass(slots=True)
class _Candidate:
    quality: float
    sharpness: float
    update: TrackUpdate
    rect: PixelRect
    pixels: Image


@dataclass(slots=True)
class _TrackCrops:
    window_start: float
    candidates: list[_Candidate] = field(default_factory=list)
    """Best first, at most top_k."""


class BestCropSelector:
    """Keeps the best crops of every track of ONE camera; not thread-safe (like its tracker)."""

    def __init__(self, settings: CropSettings, *, camera_id: str = "") -> None:
        self._settings = settings
        self._camera_id = camera_id
        self._tracks: dict[int, _TrackCrops] = {}

    def observe(self, frame: Image, updates: Sequence[TrackUpdate]) -> list[BestCrop]:
        """Consider one frame's track updates and return the crops due now.

        `frame` is the BGR frame the updates were computed on (boxes are in its pixels).
        """
        height, width = frame.shape[:2]
        emitted: list[BestCrop] = []
        for update in updates:
            number = update.track_number
            crops = self._tracks.get(number)
            if crops is None:
                crops = self._tracks[number] = _TrackCrops(window_start=update.timestamp)
            if update.state in (TrackState.NEW, TrackState.UPDATED):
                candidate = self._candidate(frame, width, height, update)
                if candidate is not None:
                    self._keep(crops, candidate)
            if update.state is TrackState.ENDED:
                emitted += self._emit(crops, update, EmitReason.TRACK_ENDED)
                del self._tracks[update.track_number]
            elif self._window_over(crops, update.timestamp):
                emitted += self._emit(crops, update, EmitReason.INTERVAL)
                crops.window_start = update.timestamp
        return emitted

    def _candidate(
        self, frame: Image, width: int, height: int, update: TrackUpdate
    ) -> _Candidate | None:
        settings = self._settings
        box_pixels = cut(frame, pixel_rect(update.box, width, height))
        if box_pixels.size == 0:
            return None
        sharp = sharpness(box_pixels)
        quality = crop_quality(
            score=update.score,
            box=update.box,
            frame_width=width,
            frame_height=height,
            sharpness_value=sharp,
            sharpness_reference=settings.sharpness_reference,
            border_margin_px=settings.border_margin_px,
            border_penalty=settings.border_penalty,
        )
        rect = pixel_rect(update.box, width, height, settings.padding)
        return _Candidate(quality, sharp, update, rect, cut(frame, rect))

    def _keep(self, crops: _TrackCrops, candidate: _Candidate) -> None:
        """Insert keeping the list sorted best first and at most top_k long."""
        bisect.insort(crops.candidates, candidate, key=lambda c: -c.quality)
        del crops.candidates[self._settings.top_k :]

    def _window_over(self, crops: _TrackCrops, timestamp: float) -> bool:
        interval = self._settings.emit_interval_s
        return interval is not None and timestamp - crops.window_start >= interval

    def _emit(self, crops: _TrackCrops, latest: TrackUpdate, reason: EmitReason) -> list[BestCrop]:
        """Encode the kept candidates (best first) and forget them."""
        emitted = [
            BestCrop(
                crop_id=str(uuid7()),
                track_number=latest.track_number,
                rank=rank,
                reason=reason,
                jpeg=encode_jpeg(candidate.pixels, self._settings.jpeg_quality),
                box=candidate.update.box,
                crop_rect=candidate.rect,
                score=candidate.update.score,
                quality=candidate.quality,
                sharpness=candidate.sharpness,
                class_id=latest.class_id,
                label=latest.label,
                frame_index=candidate.update.frame_index,
                timestamp=candidate.update.timestamp,
            )
            for rank, candidate in enumerate(crops.candidates)
        ]
        crops.candidates = []
        if emitted:
            logger.debug(
                "track %d: %d crop(s) emitted (%s)",
                latest.track_number,
                len(emitted),
                reason.value,
                extra={"camera_id": self._camera_id, "track_number": latest.track_number},
            )
        return emitted
