"""The image-text model pair: crops and texts in, unit-length vectors of one space out.

Public surface: `ImageTextModel`, `configured_settings()` and `image_text_model`, this process's
model, loaded on first use from `settings.IMAGE_TEXT`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt
from django.conf import settings
from tokenizers import Tokenizer

from cloud import backends
from cloud.imagetext.config import ImageTextSettings, PinnedFile
from cloud.lib.onnx_runtime import cpu_session
from models.cache import sha256_file
from models.errors import ModelError

if TYPE_CHECKING:
    from cloud.embeddings.embedder import Image

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

# As F.normalize: a zero vector stays zero rather than dividing by zero.
_NORM_EPS = 1e-12


def _verified(file: PinnedFile, what: str) -> str:
    actual = sha256_file(file.path) if file.path.is_file() else None
    if actual is None:
        raise ModelError(f"image-text {what} {file.path}: no such file")
    if actual != file.sha256:
        raise ModelError(
            f"image-text {what} {file.path}: sha256 {actual} differs from the pinned "
            f"{file.sha256}; refusing to load it"
        )
    return str(file.path)


def _normalised(vectors: npt.NDArray[np.generic]) -> Vectors:
    as_float = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(as_float, axis=1, keepdims=True)
    return np.asarray(as_float / np.maximum(norms, _NORM_EPS), dtype=np.float32)


class ImageTextModel:
    """Both encoders and the tokenizer, checked against their pinned sha256 and dimension.

    ONNX Runtime sessions and `tokenizers` tokenizers may be called from several threads.
    """

    def __init__(self, config: ImageTextSettings) -> None:
        """Verify and load the three files, then run each encoder once to check its output.

        Raises `models.errors.ModelError` for a missing or changed file or a wrong dimension.
        """
        self.config = config
        image_path = _verified(config.image_encoder, "image encoder")
        text_path = _verified(config.text_encoder, "text encoder")
        self._tokenizer = Tokenizer.from_file(_verified(config.tokenizer, "tokenizer"))
        self._tokenizer.enable_truncation(config.max_tokens)
        # Every text padded to max_tokens (exports with a fixed sequence length need it), with
        # the tokenizer's own padding token when its tokenizer.json names one, else id 0.
        padding = self._tokenizer.padding or {}
        self._tokenizer.enable_padding(
            length=config.max_tokens,
            pad_id=padding.get("pad_id", 0),
            pad_token=padding.get("pad_token", "[PAD]"),
        )
        # Both run in the web process (texts) and the embed workers (crops).
        self._image = cpu_session(image_path, threads=config.threads, spinning=False)
        self._text = cpu_session(text_path, threads=config.threads, spinning=False)
        # A warm-up that also catches a model of another dimension before it fills a collection.
        blank = np.zeros((config.height, config.width, 3), dtype=np.uint8)
        for what, vectors in (
            ("image encoder", self.embed_images([blank])),
            ("text encoder", self.embed_texts(["a photo"])),
        ):
            if vectors.shape != (1, config.dimension):
                raise ModelError(
                    f"image-text {what} gives vectors of shape {vectors.shape[1:]}, "
                    f"not the configured ({config.dimension},)"
                )
        logger.info("image-text model loaded (%d-d)", config.dimension)

    def preprocess(self, images: Sequence[Image]) -> npt.NDArray[np.float32]:
        """BGR crops as the image encoder's NCHW float32 input (see `ImageTextSettings`)."""
        config = self.config
        mean = np.array(config.mean, dtype=np.float32)
        std = np.array(config.std, dtype=np.float32)
        batch = np.empty((len(images), 3, config.height, config.width), dtype=np.float32)
        for i, image in enumerate(images):
            resized = cv2.resize(image, (config.width, config.height), interpolation=cv2.INTER_AREA)
            if config.colour_order == "RGB":
                resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
            scaled = (resized.astype(np.float32) / 255.0 - mean) / std
            batch[i] = scaled.transpose(2, 0, 1)
        return batch

    def embed_images(self, images: Sequence[Image]) -> Vectors:
        """Unit-length vectors of BGR crops, in batches of `batch_size`."""
        parts = []
        for start in range(0, len(images), self.config.batch_size):
            batch = self.preprocess(images[start : start + self.config.batch_size])
            (vectors,) = self._image.run(None, {self.config.image_input: batch})[:1]
            parts.append(_normalised(vectors))
        if not parts:
            return np.zeros((0, self.config.dimension), dtype=np.float32)
        return np.concatenate(parts)

    def embed_texts(self, texts: Sequence[str]) -> Vectors:
        """Unit-length vectors of texts: tokenizer, text encoder, L2 normalisation."""
        encodings = self._tokenizer.encode_batch(list(texts))
        feeds = {self.config.text_input_ids: np.array([e.ids for e in encodings], dtype=np.int64)}
        if self.config.text_attention_mask is not None:
            feeds[self.config.text_attention_mask] = np.array(
                [e.attention_mask for e in encodings], dtype=np.int64
            )
        (vectors,) = self._text.run(None, feeds)[:1]
        return _normalised(vectors)


def configured_settings() -> ImageTextSettings | None:
    """The operator's `settings.IMAGE_TEXT`, validated; None when the plug-in is not set up."""
    raw = settings.IMAGE_TEXT
    return None if raw is None else ImageTextSettings.model_validate(raw)


def _build() -> ImageTextModel:
    config = configured_settings()
    if config is None:
        raise ModelError("the image-text plug-in is not configured (settings.IMAGE_TEXT)")
    return ImageTextModel(config)


image_text_model = backends.Once(_build)
"""This process's `ImageTextModel`, loaded on first use."""
