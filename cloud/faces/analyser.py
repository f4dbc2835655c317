"""The `faces` crop analyser: the face in each person crop, stored as a `Face` row and a vector.

Runs in the embed worker on the crops it decoded (`cloud.embeddings.analysers`). For each
person crop it keeps the person's own face among those YuNet finds (see `cloud.faces.models`),
embeds it with SFace into the `Face` vector collection under the detection's id, with the same
filter properties as the crop's appearance vector, and writes the `Face` row. A crop where no
face is found (anything but a person, a back, a face too small) gets neither, and loses any it
had from an earlier run, so analysing again always leaves exactly what this run found.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from cloud.detections.models import Detection
from cloud.embeddings.services import detection_properties
from cloud.faces.models import Face
from cloud.faces.recognizer import FaceModels, FoundFace, Image, face_models, own_face
from cloud.faces.vectors import face_vectors
from cloud.lib.vectorstore import VectorItem, VectorStore

PERSON_LABEL = "person"
"""Faces are looked for in crops of this detector class only."""


class FaceAnalyser:
    """Implements `cloud.embeddings.analysers.CropAnalyser` for faces."""

    def __init__(self, models: FaceModels, vectors: VectorStore) -> None:
        self._models = models
        self._vectors = vectors

    def analyse(self, crops: Sequence[tuple[Detection, Image]]) -> None:
        """Find, embed and store the face of each person crop; clear it where there is none."""
        found: list[tuple[Detection, Image, FoundFace]] = []
        without: list[str] = []
        for row, image in crops:
            faces = self._models.find(image) if row.label == PERSON_LABEL else []
            if faces:
                found.append((row, image, own_face(faces, image.shape[1])))
            else:
                without.append(row.id)
        if found:
            self._vectors.upsert(
                [
                    VectorItem(row.id, self._models.embed(image, face), detection_properties(row))
                    for row, image, face in found
                ]
            )
        if without:
            self._vectors.delete(without)
        # After the vectors: a crash in between leaves a vector without its row, which search
        # skips (the database is the source of truth), and the rerun writes the row.
        with transaction.atomic():
            Face.objects.filter(detection_id__in=without).delete()
            for row, image, face in found:
                height, width = image.shape[:2]
                Face.objects.update_or_create(
                    detection=row,
                    defaults={
                        "x_min": min(max(face.x1 / width, 0.0), 1.0),
                        "y_min": min(max(face.y1 / height, 0.0), 1.0),
                        "x_max": min(max(face.x2 / width, 0.0), 1.0),
                        "y_max": min(max(face.y2 / height, 0.0), 1.0),
                        "score": min(max(face.score, 0.0), 1.0),
                    },
                )


def build() -> FaceAnalyser:
    """The analyser on this process's face models and face collection (`ANALYSERS` factory)."""
    return FaceAnalyser(face_models(), face_vectors())
