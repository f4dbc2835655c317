"""Which model embeds crops, the length of its vectors, and the largest crop it decodes.

Kept apart from `cloud.embeddings.embedder` so that processes which only store or search
vectors (web, ingest) know these without importing ONNX Runtime.
"""

from typing import Final

CROP_MODEL_NAME: Final = "mobilenetv2-stripes"
"""Manifest name in `models/` of the crop embedder's network."""

CROP_EMBEDDING_DIMENSION: Final = 208
"""Length of crop vectors (`cloud.embeddings.crop_vector`: 128 for the network, sketched, and
80 for colour by part); the embedder checks itself against it when loading."""

CROP_VECTOR_COLLECTION: Final = "DetectionV3"
"""The vector store collection these vectors go to unless a deployment names another
(`SIGHTLINE_CLOUD_VECTOR_STORE_COLLECTION`). A new name with every change of the vectors: those
of two embeddings do not mix, and a new collection is filled by `python -m cloud reembed`.
Was "DetectionV2" (the same layout from mobilenetv2-reid's square 224 x 224 input) and before
that "Detection" (the 1280-d network vectors alone)."""

DEFAULT_MAX_CROP_PIXELS: Final = 4096 * 4096
"""Largest crop (width x height) decoded by default: a 4096 x 4096 crop takes 48 MiB decoded
(BGR). The ingest refuses larger ones at upload, so that no stored crop is one the embed
worker will not decode."""
