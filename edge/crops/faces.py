"""Faces at the edge: YuNet on the full-resolution pixels of a person crop that is being sent.

The cloud looks for faces in the person crops it receives, but only in the JPEG it was sent; the
edge holds the raw frame pixels of every crop it cuts. When `FaceSettings` are given (off by
default), `FaceFinder.find` runs OpenCV's `FaceDetectorYN` on the upper part of the person's box
(where a standing or sitting person's head is) and returns the person's own face: its box, its
five landmarks and score in frame pixels, and a JPEG of the face region cut from the raw pixels,
which the crop carries to the cloud (`sightline.ingest.v1.EdgeFace`) for SFace to align and embed.

Cost: the finder runs only on the candidates a track hands over to be sent (one crop per track
and emission by default), never per frame; `TrackLedger` calls it from `_cut`.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.crops.image import Image, encode_jpeg, pixel_rect
from edge.geometry import Box, PixelRect
from edge.records import FaceView
from models.cache import verified_bytes

logger = logging.getLogger(__name__)

YUNET = "yunet"
"""The registry's face detector (`models/yunet.toml`), checked against its sha256 on load."""


class FaceSettings(BaseModel):
    """How faces are found in person crops being sent (`crops.faces`; null: not at all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: tuple[str, ...] = Field(
        default=("person",), description="Detector labels whose crops are searched for a face."
    )
    jpeg_quality: int = Field(
        default=95, ge=1, le=100, description="JPEG quality (1-100) of the face image."
    )
    score_threshold: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="Least YuNet score of a face (the cloud's default too: real faces score "
        "0.85-0.95 on the sample photos).",
    )
    min_face_px: int = Field(
        default=24,
        ge=8,
        description="Faces narrower than this many frame pixels are not sent: SFace aligns "
        "every face to 112 x 112, and a face of a few pixels matches anyone.",
    )
    upper_fraction: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="Part of the person's box searched, from its top: the head is there, and "
        "YuNet's time grows with the pixels.",
    )
    margin: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Context around the face box in the face JPEG, as a fraction of its "
        "width/height on each side (SFace's alignment rotates the face within it).",
    )


def search_rect(box: Box, crop_box: PixelRect, upper_fraction: float) -> PixelRect:
    """The region of the crop's pixels searched: the crop's width, from its top down to
    `upper_fraction` of the person's box height (crop-relative pixels, possibly empty)."""
    bottom = box.y1 + (box.y2 - box.y1) * upper_fraction - crop_box.y1
    height = crop_box.y2 - crop_box.y1
    return PixelRect(0, 0, crop_box.x2 - crop_box.x1, max(0, min(height, round(bottom))))


class FaceFinder:
    """YuNet over person crops; one per camera thread (OpenCV's model keeps per-call state)."""

    def __init__(self, settings: FaceSettings) -> None:
        """Load YuNet from the model cache. Raises `models.errors.ModelError`."""
        model = np.frombuffer(verified_bytes(YUNET), dtype=np.uint8)
        empty = np.zeros(0, dtype=np.uint8)
        self._detector = cv2.FaceDetectorYN.create(
            "onnx", model, empty, (320, 320), settings.score_threshold
        )
        self._settings = settings
        logger.info("face finder: %s loaded (sha256 ok)", YUNET)

    def wants(self, label: str) -> bool:
        """Whether crops of this label are searched."""
        return label in self._settings.labels

    def find(self, pixels: Image, box: Box, crop_box: PixelRect) -> FaceView | None:
        """The person's own face in a crop (`pixels` is the frame's `crop_box` region, raw),
        in frame pixels; None when there is none at least `min_face_px` wide."""
        region = search_rect(box, crop_box, self._settings.upper_fraction)
        if region.x2 < 2 or region.y2 < 2:
            return None
        searched = pixels[: region.y2, : region.x2]
        self._detector.setInputSize((region.x2, region.y2))
        _, rows = self._detector.detect(searched)
        if rows is None:
            return None
        centre = (box.x1 + box.x2) / 2 - crop_box.x1
        faces = [
            row
            for row in np.asarray(rows, dtype=np.float32)
            # On degenerate input YuNet returns boxes outside the image, even NaN; a face's
            # centre must lie in the region searched.
            if np.isfinite(row).all()
            and row[2] >= self._settings.min_face_px
            and 0 <= row[0] + row[2] / 2 <= region.x2
            and 0 <= row[1] + row[3] / 2 <= region.y2
        ]
        if not faces:
            return None
        # The person's own face is the one nearest the middle of their box: people beside them
        # show their faces towards the crop's sides, often as sure as theirs.
        row = min(faces, key=lambda face: abs(face[0] + face[2] / 2 - centre))
        return self._view(pixels, row, crop_box)

    def _view(self, pixels: Image, row: np.ndarray, crop_box: PixelRect) -> FaceView:
        x, y, width, height = (float(value) for value in row[:4])
        in_crop = Box(x, y, x + width, y + height)
        crop_height, crop_width = pixels.shape[:2]
        image = pixel_rect(in_crop, crop_width, crop_height, self._settings.margin)
        jpeg = encode_jpeg(
            pixels[image.y1 : image.y2, image.x1 : image.x2], self._settings.jpeg_quality
        )
        dx, dy = crop_box.x1, crop_box.y1
        landmarks = tuple(
            float(value) + (dx if index % 2 == 0 else dy) for index, value in enumerate(row[4:14])
        )
        return FaceView(
            box=Box(in_crop.x1 + dx, in_crop.y1 + dy, in_crop.x2 + dx, in_crop.y2 + dy),
            landmarks=landmarks,
            score=min(max(float(row[14]), 0.0), 1.0),
            image_rect=PixelRect(image.x1 + dx, image.y1 + dy, image.x2 + dx, image.y2 + dy),
            jpeg=jpeg,
        )
