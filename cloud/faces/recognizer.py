"""YuNet finds faces, SFace embeds them: OpenCV's face API on the built models.

Both models come from `models/yunet.toml` and `models/sface.toml`; their bytes are checked
against the manifests' sha256 and handed to OpenCV from memory, so the bytes checked are the
bytes loaded. OpenCV feeds each model the way its authors trained it (YuNet raw BGR pixels,
SFace a face aligned on its five landmarks, RGB), which is why `FaceDetectorYN` and
`FaceRecognizerSF` are used rather than a session of our own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from cloud import backends
from models.cache import verified_bytes

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
Vector = npt.NDArray[np.float32]

FACE_DIMENSION: Final = 128
"""Length of SFace's face vectors."""
SAME_PERSON_COSINE: Final = 0.363
"""SFace's own threshold (OpenCV Zoo): two faces whose vectors' cosine similarity is at least
this are the same person. It belongs to the model, so it is not a setting."""
FACE_COLLECTION: Final = "Face"
"""Suffix of the vector collection of face vectors (`cloud.backends.vector_collection`)."""


class FaceSettings(BaseModel):
    """How faces are found (`settings.FACES`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score_threshold: float = Field(
        default=0.8,
        gt=0,
        lt=1,
        description="Least YuNet score of a face. Measured on the labelme and OpenCV sample "
        "photos: real faces score 0.85-0.95.",
    )
    min_face_px: int = Field(
        default=24,
        ge=8,
        description="Faces narrower than this many pixels are ignored: SFace aligns every face "
        "to 112 x 112, and a face of a few pixels gives a vector that matches anyone.",
    )
    max_side_px: int = Field(
        default=1280,
        ge=112,
        description="Images are scaled down to this longest side to find faces (faces are then "
        "cut from the full image): YuNet's time grows with the pixels.",
    )


@dataclass(frozen=True, slots=True)
class FoundFace:
    """One face in an image, in that image's pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    """YuNet's confidence in [0, 1]."""
    landmarks: tuple[float, ...]
    """Eyes, nose tip and mouth corners: ten values x, y; SFace aligns the face on them."""

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.x2 - self.x1

    def yunet_row(self) -> npt.NDArray[np.float32]:
        """The face as YuNet's output row (x, y, w, h, landmarks, score) that SFace aligns on."""
        return np.array(
            [self.x1, self.y1, self.width, self.y2 - self.y1, *self.landmarks, self.score],
            dtype=np.float32,
        )


def _verified(name: str) -> npt.NDArray[np.uint8]:
    return np.frombuffer(verified_bytes(name), dtype=np.uint8)


class FaceModels:
    """YuNet and SFace; thread-safe (one lock: OpenCV's models keep per-call state)."""

    def __init__(self, settings: FaceSettings) -> None:
        """Load both models from the cache. Raises `models.errors.ModelError`."""
        empty = np.zeros(0, dtype=np.uint8)
        self._detector = cv2.FaceDetectorYN.create(
            "onnx", _verified("yunet"), empty, (320, 320), settings.score_threshold
        )
        self._recognizer = cv2.FaceRecognizerSF.create("onnx", _verified("sface"), empty)
        self._settings = settings
        self._lock = threading.Lock()
        logger.info("loaded face models yunet and sface")

    def find(self, image: Image) -> list[FoundFace]:
        """Faces in a BGR image at least `min_face_px` wide, best score first."""
        height, width = image.shape[:2]
        scale = min(1.0, self._settings.max_side_px / max(height, width))
        small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale)
        with self._lock:
            self._detector.setInputSize((small.shape[1], small.shape[0]))
            _, rows = self._detector.detect(small)
        if rows is None:
            return []
        faces = []
        for row in np.asarray(rows, dtype=np.float32):
            x, y, w, h = (float(value) / scale for value in row[:4])
            # On degenerate input (a crop a few pixels high) YuNet returns boxes far outside
            # the image, even NaN; a face's centre must lie in the image.
            inside = 0 <= x + w / 2 <= width and 0 <= y + h / 2 <= height
            if not np.isfinite(row).all() or not inside or w < self._settings.min_face_px:
                continue
            landmarks = tuple(float(value) / scale for value in row[4:14])
            faces.append(FoundFace(x, y, x + w, y + h, float(row[14]), landmarks))
        return sorted(faces, key=lambda face: -face.score)

    def embed(self, image: Image, face: FoundFace) -> Vector:
        """SFace's unit-length vector of one face of `image` (as `find` returned it)."""
        with self._lock:
            aligned = self._recognizer.alignCrop(image, face.yunet_row())
            feature = self._recognizer.feature(aligned)
        vector = np.asarray(feature, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        # A face SFace cannot read yields zeros; such a vector has no direction to compare.
        return vector / norm if norm > 0 else vector

    def thumbnail(self, image: Image, face: FoundFace) -> Image:
        """The face as SFace sees it: aligned, 112 x 112, BGR (for showing a query face)."""
        with self._lock:
            return np.asarray(self._recognizer.alignCrop(image, face.yunet_row()), np.uint8)


def own_face(faces: Sequence[FoundFace], crop_width: int) -> FoundFace:
    """The face of the person the crop shows: the one nearest its vertical centre line.

    A person crop is the person's box plus a margin, so their head sits near the middle of its
    width; people beside them (on a sofa, in a queue) show their faces towards the sides, often
    as large and as sure as the person's own (measured on the labelme sofa photo).
    """
    return min(faces, key=lambda face: abs((face.x1 + face.x2) / 2 - crop_width / 2))


def _build_face_models() -> FaceModels:
    return FaceModels(FaceSettings.model_validate(settings.FACES))


face_models: Final = backends.Once(_build_face_models)
"""This process's face models, loaded on first use from `settings.FACES`."""
