"""Which model embeds crops, the length of its vectors, and the largest crop it decodes.

Kept apart from `cloud.embeddings.embedder` so that processes which only store or search
vectors (web, ingest) know these without importing ONNX Runtime.
"""

from typing import Final

CROP_MODEL_NAME: Final = "mobilenetv2-reid"
"""Manifest name in `models/` of the crop embedder."""

CROP_EMBEDDING_DIMENSION: Final = 1280
"""Length of its output vectors; the embedder checks the model against it when loading."""

DEFAULT_MAX_CROP_PIXELS: Final = 4096 * 4096
"""Largest crop (width x height) decoded by default: a 4096 x 4096 crop takes 48 MiB decoded
(BGR). The ingest refuses larger ones at upload, so that no stored crop is one the embed
worker will not decode."""
