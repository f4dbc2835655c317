"""Query by example: what can be searched for in an uploaded image.

An upload is detected the way the edge detects a frame (`cloud.search.detector`: NanoDet-g,
the same letterbox, decode and NMS), each object is cut the way the edge cuts a crop (the
detection box with the edge's default padding, `models.detection.padded_rect`) and embedded by
the crop embedder that embeds camera crops; the whole image is always offered too, for a photo
where nothing is detected or the wrong thing is. Faces are found in the whole image and
embedded by the face models of `cloud.faces`. The result, `UploadAnalysis`, holds a vector and
a small thumbnail per choice; the views keep the latest one in the user's session, so picking
an object needs neither the image again nor any storage.
"""

from __future__ import annotations

import base64
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import cv2
import numpy as np
import numpy.typing as npt
from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from cloud import backends
from cloud.embeddings.services import crop_embedder
from cloud.embeddings.spec import DEFAULT_MAX_CROP_PIXELS
from cloud.faces.recognizer import face_models
from models.detection import padded_rect

if TYPE_CHECKING:
    from cloud.search.detector import UploadDetector

Image = npt.NDArray[np.uint8]

THUMBNAIL_SIDE: Final = 192
"""Longest side in pixels of the thumbnails kept for the pick and results pages."""


class ExampleSearchSettings(BaseModel):
    """Query by an uploaded image (`settings.EXAMPLE_SEARCH`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_upload_bytes: int = Field(
        default=10_000_000, ge=1, description="Largest upload in bytes (a photo or a frame)."
    )
    max_pixels: int = Field(
        default=DEFAULT_MAX_CROP_PIXELS,
        ge=1,
        description="Largest image (width x height, as its header declares) decoded; larger "
        "ones are refused unread. The same bound as the embed workers' crops by default.",
    )
    score_threshold: float = Field(
        default=0.45,
        gt=0,
        lt=1,
        description="Least detector score of an object offered to pick: the score at which the "
        "edge's tracker takes a detection into its first association.",
    )
    padding: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Context around the box, as a fraction of its width/height on each side: "
        "the edge's default crop padding, so query crops look like camera crops.",
    )
    max_objects: int = Field(default=12, ge=1, description="Most detected objects offered.")
    max_faces: int = Field(default=8, ge=0, description="Most faces offered.")
    uploads_per_minute: int = Field(
        default=12,
        ge=1,
        description="Uploads one user may make per minute (each runs two to three models on "
        "the web server's CPU).",
    )
    detector_threads: int = Field(
        default=1, ge=1, description="ONNX Runtime threads of the upload detector."
    )


def example_settings() -> ExampleSearchSettings:
    """The settings, validated (a bad value is reported by its field name)."""
    return ExampleSearchSettings.model_validate(settings.EXAMPLE_SEARCH)


Kind = Literal["object", "whole", "face"]


@dataclass(frozen=True)
class QueryChoice:
    """One thing of an upload that can be searched for."""

    kind: Kind
    label: str
    """Detector class of an object; "whole image" or "face" otherwise."""
    score: float | None
    """Detector score (None for the whole image)."""
    box: tuple[int, int, int, int]
    """x1, y1, x2, y2 in the uploaded image's pixels (the padded crop for an object)."""
    thumbnail: bytes
    """A JPEG of what is searched for, at most `THUMBNAIL_SIDE` pixels."""
    vector: npt.NDArray[np.float32]
    """Crop embedding (objects, whole image) or face vector (faces)."""

    @property
    def thumbnail_base64(self) -> str:
        """The thumbnail for a `data:` URL."""
        return base64.b64encode(self.thumbnail).decode("ascii")


@dataclass(frozen=True)
class UploadAnalysis:
    """What was found in one upload."""

    upload_id: str
    width: int
    height: int
    objects: list[QueryChoice]
    """Detected objects, best first, then the whole image (always the last)."""
    faces: list[QueryChoice]

    @property
    def detected(self) -> int:
        """How many objects were detected (the whole image not counted)."""
        return len(self.objects) - 1

    def to_session(self) -> dict[str, Any]:
        """A JSON-serialisable form for the session."""
        return {
            "upload_id": self.upload_id,
            "width": self.width,
            "height": self.height,
            "objects": [_choice_to_json(choice) for choice in self.objects],
            "faces": [_choice_to_json(choice) for choice in self.faces],
        }

    @classmethod
    def from_session(cls, data: dict[str, Any]) -> UploadAnalysis:
        """The analysis `to_session` wrote."""
        return cls(
            upload_id=data["upload_id"],
            width=data["width"],
            height=data["height"],
            objects=[_choice_from_json(item) for item in data["objects"]],
            faces=[_choice_from_json(item) for item in data["faces"]],
        )


def _choice_to_json(choice: QueryChoice) -> dict[str, Any]:
    return {
        "kind": choice.kind,
        "label": choice.label,
        "score": choice.score,
        "box": list(choice.box),
        "thumbnail": choice.thumbnail_base64,
        "vector": base64.b64encode(choice.vector.astype("<f4").tobytes()).decode("ascii"),
    }


def _choice_from_json(item: dict[str, Any]) -> QueryChoice:
    x1, y1, x2, y2 = item["box"]
    return QueryChoice(
        kind=item["kind"],
        label=item["label"],
        score=item["score"],
        box=(x1, y1, x2, y2),
        thumbnail=base64.b64decode(item["thumbnail"]),
        vector=np.frombuffer(base64.b64decode(item["vector"]), dtype="<f4").astype(np.float32),
    )


def _build_detector() -> UploadDetector:
    # Imported here so that a web process loads ONNX Runtime only once someone uploads.
    from cloud.search.detector import load_upload_detector

    return load_upload_detector(threads=example_settings().detector_threads)


upload_detector: Final = backends.Once(_build_detector)
"""This process's upload detector, loaded on first use."""

# One upload at a time per process: the crop embedder is not thread-safe, and two uploads at
# once would only share the same cores.
_models_lock = threading.Lock()


def analyse_upload(image: Image, config: ExampleSearchSettings) -> UploadAnalysis:
    """Detect, cut and embed the objects and faces of a decoded upload (BGR).

    Loads the models on first use; raises `models.errors.ModelError` when one is not built.
    """
    height, width = image.shape[:2]
    with _models_lock:
        detections = upload_detector().detect(image, score_threshold=config.score_threshold)
        rects = [padded_rect(d, width, height, config.padding) for d in detections]
        kept = [
            (d, r) for d, r in zip(detections, rects, strict=True) if r[2] > r[0] and r[3] > r[1]
        ][: config.max_objects]
        crops = [image[y1:y2, x1:x2] for _, (x1, y1, x2, y2) in kept] + [image]
        vectors = crop_embedder().embed(crops)
        models = face_models()
        faces = models.find(image)[: config.max_faces]
        face_vectors = [models.embed(image, face) for face in faces]
        face_thumbnails = [models.thumbnail(image, face) for face in faces]
    objects = [
        QueryChoice("object", d.label, d.score, rect, _thumbnail(crop), vector)
        for (d, rect), crop, vector in zip(kept, crops[:-1], vectors[:-1], strict=True)
    ]
    whole = (0, 0, width, height)
    objects.append(QueryChoice("whole", "whole image", None, whole, _thumbnail(image), vectors[-1]))
    face_choices = [
        QueryChoice(
            "face",
            "face",
            face.score,
            (round(face.x1), round(face.y1), round(face.x2), round(face.y2)),
            _thumbnail(thumbnail),
            vector,
        )
        for face, vector, thumbnail in zip(faces, face_vectors, face_thumbnails, strict=True)
    ]
    return UploadAnalysis(uuid.uuid4().hex, width, height, objects, face_choices)


def _thumbnail(image: Image) -> bytes:
    scale = min(1.0, THUMBNAIL_SIDE / max(image.shape[:2]))
    small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale,
                                                   interpolation=cv2.INTER_AREA)  # fmt: skip
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode a {small.shape} thumbnail")
    return bytes(jpeg)
