"""The `faces` crop analyser: the face in each person crop, stored as a `Face` row and a vector.

Runs in the embed worker on the crops it decoded (`cloud.embeddings.analysers`). For each
person crop it keeps the person's own face among those YuNet finds (see `cloud.faces.models`),
embeds it with SFace into the `Face` vector collection under the detection's id, with the same
filter properties as the crop's appearance vector, and writes the `Face` row. A crop where no
face is found (anything but a person, a back, a face too small) gets neither, and loses any it
had from an earlier run, so analysing again always leaves exactly what this run found.

A crop that came with an edge face (`Detection.edge_face`: the edge looked on the full-resolution
frame, `edge.crops.faces`) is not searched again: SFace aligns the edge's face JPEG on the edge's
landmarks, and the row takes the edge's box and score. Its face lands in the same rows and
collection, so face search finds it like any other. If that JPEG is gone from the object store,
the crop is searched as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
from django.db import transaction

from cloud import backends
from cloud.detections.models import Detection
from cloud.embeddings.services import detection_properties
from cloud.faces.models import Face
from cloud.faces.recognizer import FaceModels, FoundFace, Image, face_models, own_face
from cloud.faces.vectors import face_vectors
from cloud.lib.objectstore import ObjectNotFound, ObjectStore
from cloud.lib.vectorstore import VectorItem, VectorStore

logger = logging.getLogger(__name__)

PERSON_LABEL = "person"
"""Faces are looked for in crops of this detector class only."""


class FaceAnalyser:
    """Implements `cloud.embeddings.analysers.CropAnalyser` for faces."""

    def __init__(self, models: FaceModels, vectors: VectorStore, objects: ObjectStore) -> None:
        self._models = models
        self._vectors = vectors
        self._objects = objects

    def analyse(self, crops: Sequence[tuple[Detection, Image]]) -> None:
        """Find, embed and store the face of each person crop; clear it where there is none."""
        # (row, the image the face is in, the face in its pixels, its box in crop fractions)
        found: list[tuple[Detection, Image, FoundFace, tuple[float, ...]]] = []
        without: list[str] = []
        for row, image in crops:
            edge = self._edge_face(row) if row.label == PERSON_LABEL else None
            if edge is not None:
                found.append((row, *edge))
                continue
            faces = self._models.find(image) if row.label == PERSON_LABEL else []
            if faces:
                face = own_face(faces, image.shape[1])
                height, width = image.shape[:2]
                box = (face.x1 / width, face.y1 / height, face.x2 / width, face.y2 / height)
                found.append((row, image, face, box))
            else:
                without.append(row.id)
        if found:
            self._vectors.upsert(
                [
                    VectorItem(row.id, self._models.embed(image, face), detection_properties(row))
                    for row, image, face, _ in found
                ]
            )
        if without:
            self._vectors.delete(without)
        # After the vectors: a crash in between leaves a vector without its row, which search
        # skips (the database is the source of truth), and the rerun writes the row.
        with transaction.atomic():
            Face.objects.filter(detection_id__in=without).delete()
            for row, _, face, (x_min, y_min, x_max, y_max) in found:
                Face.objects.update_or_create(
                    detection=row,
                    defaults={
                        "x_min": min(max(x_min, 0.0), 1.0),
                        "y_min": min(max(y_min, 0.0), 1.0),
                        "x_max": min(max(x_max, 0.0), 1.0),
                        "y_max": min(max(y_max, 0.0), 1.0),
                        "score": min(max(face.score, 0.0), 1.0),
                    },
                )

    def _edge_face(self, row: Detection) -> tuple[Image, FoundFace, tuple[float, ...]] | None:
        """The edge's face of the crop (its JPEG, the face in it, its box in crop fractions);
        None when the edge sent none or its JPEG is gone or unreadable."""
        geometry = row.edge_face
        if not row.face_key or not isinstance(geometry, dict):
            return None
        try:
            data = self._objects.get(row.face_key)
        except ObjectNotFound:
            logger.warning("crop %s: edge face %s is gone; looking again", row.id, row.face_key)
            return None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            logger.warning("crop %s: edge face is not a JPEG; looking again", row.id)
            return None
        x1, y1, x2, y2 = geometry["box"]
        face = FoundFace(x1, y1, x2, y2, geometry["score"], tuple(geometry["landmarks"]))
        return np.asarray(image, np.uint8), face, tuple(geometry["in_crop"])


def build() -> FaceAnalyser:
    """The analyser on this process's face models and face collection (`ANALYSERS` factory)."""
    return FaceAnalyser(face_models(), face_vectors(), backends.object_store())
