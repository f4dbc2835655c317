"""The ``image_text`` crop analyser: every crop's image-text vector, in its own collection."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cloud import backends
from cloud.detections.models import Detection
from cloud.embeddings.services import detection_properties
from cloud.imagetext.model import ImageTextModel, image_text_model
from cloud.lib.vectorstore import VectorItem, VectorStore

if TYPE_CHECKING:
    from cloud.embeddings.embedder import Image


class ImageTextAnalyser:
    """Embeds crops with the image encoder and upserts them by detection id (idempotent)."""

    def __init__(self, model: ImageTextModel, vectors: VectorStore) -> None:
        """Use `model` and store into `vectors` (a collection of `model`'s dimension)."""
        self._model = model
        self._vectors = vectors

    def analyse(self, crops: Sequence[tuple[Detection, Image]]) -> None:
        """Store the crops' vectors with the same properties as their appearance vectors, so
        the same filters apply (`cloud.embeddings.analysers.CropAnalyser`)."""
        vectors = self._model.embed_images([image for _, image in crops])
        self._vectors.upsert(
            [
                VectorItem(row.id, vector, detection_properties(row))
                for (row, _), vector in zip(crops, vectors, strict=True)
            ]
        )


def image_text_collection(model: ImageTextModel) -> VectorStore:
    """The collection that holds `model`'s image vectors."""
    return backends.vector_collection(model.config.collection_suffix, model.config.dimension)


def build() -> ImageTextAnalyser:
    """The analyser on this process's model and collection (the `ANALYSERS` factory)."""
    model = image_text_model()
    return ImageTextAnalyser(model, image_text_collection(model))
