"""The offline sentence embedder (all-MiniLM-L6-v2 as ONNX, `models/minilm-l6.toml`) that text
search uses to match free text to the vocabulary.

Public surface: `SentenceEncoder`, `load_sentence_encoder()` and `sentence_encoder`, this
process's encoder, loaded on first use. The model is the one the manifest pins (sha256 checked
by `models.cache.built_model`), its tokenizer the ``tokenizer.json`` built beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from cloud import backends
from cloud.lib.onnx_runtime import cpu_session
from models.cache import built_model
from models.manifest import manifest_path, read_runtime_manifest

SENTENCE_MODEL: Final = "minilm-l6"
"""Manifest name in `models/` of the sentence embedder."""

SENTENCE_DIMENSION: Final = 384
"""Length of its unit-length output vectors."""

# Phrases are a few words; this bounds the work one call can ask for.
_MAX_TOKENS: Final = 32


class SentenceEncoder:
    """Texts in, unit-length 384-d vectors out; one per process, shared by its threads (ONNX
    Runtime sessions and `tokenizers` tokenizers may be called concurrently)."""

    def __init__(self, model_path: Path, tokenizer_path: Path, *, threads: int = 1) -> None:
        """Load the model and its tokenizer (``tokenizer.json`` of the `tokenizers` library)."""
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer pads every text to 128 tokens; padding to the longest text of
        # the batch gives the same vectors at a fraction of the cost (see the manifest).
        self._tokenizer.no_padding()
        self._tokenizer.enable_padding()
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        self._session = cpu_session(model_path, threads=threads, spinning=False)

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The unit-length vectors of `texts` (at most 32 tokens each are read), one per row."""
        if not texts:
            return np.zeros((0, SENTENCE_DIMENSION), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        }
        (vectors,) = self._session.run(None, feeds)
        return np.asarray(vectors, dtype=np.float32)


def load_sentence_encoder() -> SentenceEncoder:
    """The encoder on the built model in SIGHTLINE_CACHE_DIR (`python -m models build`)."""
    model = built_model(read_runtime_manifest(manifest_path(SENTENCE_MODEL)))
    return SentenceEncoder(model, model.parent / "tokenizer.json")


sentence_encoder: Final = backends.Once(load_sentence_encoder)
"""This process's `SentenceEncoder`, loaded on first use."""
