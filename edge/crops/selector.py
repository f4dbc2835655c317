"""Best-crop selection for one track: which views of it to send to the cloud, and when.

`BestCrops` holds the candidates of ONE track. For every NEW/UPDATED update it scores the detection
on its frame (`scoring.crop_quality`) and keeps the `top_k` best candidates, each as a padded copy
of its pixels (frames are not kept). It hands them over, best first (`Due`, with its `Emission`):

- FIRST: once the track has been confirmed for `first_crop_after_s`, the best views so far, so a
  track becomes searchable about a second after it is first seen, not when it ends;
- INTERVAL: for a long track, every `emit_interval_s` seconds, the best views of that window, so
  a person loitering for an hour keeps improving in the cloud;
- END: when the track ends (ENDED update), the best views left.

After the first crops, a view is only worth sending when it is better than the best one sent: later
emissions hand over only such views (and none at all when nothing better came), so a short track
costs one crop and a long one a few, each an improvement. Views no better than the best sent are
not even kept.

LOST updates carry a predicted box, not pixels of the object, so they are never candidates.
`edge.pipelines.tracks.TrackLedger` keeps one `BestCrops` in the state of each track and turns the
candidates it hands over into `Crop` records.
"""

from __future__ import annotations

import bisect
import enum
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from edge.crops.faces import FaceSettings
from edge.crops.image import Image, cut, pixel_rect, shrink
from edge.crops.scoring import crop_quality, sharpness
from edge.geometry import Box, FrameSize, PixelRect
from edge.tracking.base import TrackState, TrackUpdate


class CropSettings(BaseModel):
    """How crops are chosen, cut and encoded; one set per camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top_k: int = Field(
        default=1,
        ge=1,
        description="Crops emitted per track per emission at most, best first (after the first "
        "emission only those better than the best crop sent).",
    )
    first_crop_after_s: float | None = Field(
        default=0.5,
        ge=0,
        description="Emit a track's first crop (its best view so far) once it has been confirmed "
        "for this many seconds, so it becomes searchable soon after it is first seen; later "
        "emissions send only better views. null waits for the first interval or the end.",
    )
    emit_interval_s: float | None = Field(
        default=10.0,
        gt=0,
        description="For tracks that last longer, emit the best crops of every window of this "
        "many seconds (if better than the best sent); null emits only when the track ends.",
    )
    padding: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Context added around the detection box, as a fraction of its width/height "
        "on each side.",
    )
    jpeg_quality: int = Field(default=90, ge=1, le=100, description="JPEG quality (1-100).")
    context_width: int | None = Field(
        default=640,
        ge=16,
        le=4096,
        description="Send the whole frame of each emission's best crop, downscaled to at most "
        "this many pixels wide (never upscaled), so a person sees where the object was; null "
        "sends no context frame.",
    )
    context_jpeg_quality: int = Field(
        default=70,
        ge=1,
        le=100,
        description="JPEG quality (1-100) of the context frame: a picture of the scene, so "
        "lower than the crop's, which is embedded.",
    )
    path_points: int = Field(
        default=64,
        ge=2,
        le=256,
        description="Most points of a track's path (box centres over time) sent in its "
        "summaries, evenly spread over the track (the cloud accepts at most 256).",
    )
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
    faces: FaceSettings | None = Field(
        default=None,
        description="Look for the person's face (YuNet) in each person crop being sent, on the "
        "full-resolution frame region, and send it with the crop for face search; null (the "
        "default) looks for none and costs nothing.",
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One view of a track worth sending: a copy of its pixels and how good a picture it is."""

    pixels: Image
    """The `crop_box` region of the frame, copied (BGR)."""
    context: Image | None
    """The whole frame, downscaled to `context_width` (BGR); None when none is sent."""
    box: Box
    """The detection box, frame pixels."""
    crop_box: PixelRect
    """The box plus `padding`, clipped to the frame: the region `pixels` shows."""
    frame_size: FrameSize
    frame_index: int
    frame_time: datetime
    """Capture time of the frame the candidate was cut from."""
    score: float
    """Detector score of the detection."""
    quality: float
    """`scoring.crop_quality`; compared only within the track."""
    sharpness: float


class Emission(enum.Enum):
    """Why candidates are due (see the module docstring)."""

    FIRST = "first"
    INTERVAL = "interval"
    END = "end"


@dataclass(frozen=True, slots=True)
class Due:
    """What a track hands over now: its best views not yet sent that beat the best one sent."""

    reason: Emission
    candidates: list[Candidate]
    """Best first, at most `top_k`; empty when nothing better than the best sent came."""


class BestCrops:
    """The best views of ONE track so far; not thread-safe (like its tracker)."""

    def __init__(self, settings: CropSettings, *, window_start: float) -> None:
        """`window_start`: timestamp (seconds, as in `TrackUpdate`) the first window starts at."""
        self._settings = settings
        self._confirmed_at = window_start
        self._window_start = window_start
        self._candidates: list[Candidate] = []
        """Best first, at most top_k, each better than `_sent_quality`."""
        self._sent_quality = -1.0
        """Quality of the best view handed over (qualities are >= 0; -1: none yet)."""

    def consider(self, frame: Image, frame_time: datetime, update: TrackUpdate) -> None:
        """Keep the update's detection if it is among the `top_k` best views not yet handed
        over and better than the best one that was.

        `frame` is the BGR frame the update was computed on (its box is in the frame's pixels).
        Only NEW and UPDATED updates are considered; a box that lies outside the frame is not.
        """
        if update.state not in (TrackState.NEW, TrackState.UPDATED):
            return
        settings = self._settings
        height, width = frame.shape[:2]
        box_pixels = cut(frame, pixel_rect(update.box, width, height))
        if box_pixels.size == 0:
            return
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
        if quality <= self._sent_quality or (
            len(self._candidates) == settings.top_k and quality <= self._candidates[-1].quality
        ):
            # Not kept: decided before the copies below are made.
            return
        rect = pixel_rect(update.box, width, height, settings.padding)
        candidate = Candidate(
            pixels=cut(frame, rect),
            context=None
            if settings.context_width is None
            else shrink(frame, settings.context_width),
            box=update.box,
            crop_box=rect,
            frame_size=FrameSize(width, height),
            frame_index=update.frame_index,
            frame_time=frame_time,
            score=update.score,
            quality=quality,
            sharpness=sharp,
        )
        bisect.insort(self._candidates, candidate, key=lambda c: -c.quality)
        del self._candidates[settings.top_k :]

    def due(self, update: TrackUpdate) -> Due | None:
        """What to hand over now, which is then forgotten: always a `Due` when `update` ends the
        track, when its interval is over, or (once) when its first crop is due; None otherwise.
        Call it for every update of the track, after `consider`."""
        settings = self._settings
        if update.state is TrackState.ENDED:
            reason = Emission.END
        elif (
            settings.emit_interval_s is not None
            and update.timestamp - self._window_start >= settings.emit_interval_s
        ):
            reason = Emission.INTERVAL
            self._window_start = update.timestamp
        elif (
            settings.first_crop_after_s is not None
            and self._sent_quality < 0
            and self._candidates
            and update.timestamp - self._confirmed_at >= settings.first_crop_after_s
        ):
            reason = Emission.FIRST
        else:
            return None
        due, self._candidates = self._candidates, []
        if due:
            self._sent_quality = due[0].quality
        return Due(reason, due)
