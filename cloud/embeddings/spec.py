"""Which model embeds crops, and the length of its vectors.

Kept apart from `cloud.embeddings.embedder` so that processes which only store or search
vectors (web, ingest) know the dimension without importing ONNX Runtime.
"""

from typing import Final

CROP_MODEL_NAME: Final = "mobilenetv2-reid"
"""Manifest name in `models/` of the crop embedder."""

CROP_EMBEDDING_DIMENSION: Final = 1280
"""Length of its output vectors; the embedder checks the model against it when loading."""
