"""A small randomly initialised image-text model with CLIP's interface, built by the tests.

Image encoder: ``pixel_values`` float32 [N, 3, SIZE, SIZE] -> flatten -> matmul -> float32
[N, DIMENSION]. Text encoder: ``input_ids`` and ``attention_mask`` int64 [N, L] -> token
embeddings summed over the mask -> float32 [N, DIMENSION]. Tokenizer: a word-level
tokenizer.json made with the `tokenizers` library (lower-cased, split on whitespace and
punctuation, wrapped in [CLS] ... [SEP]). The weights come from a fixed seed, so `TinyClip`
can also compute every expected vector with numpy alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel

from cloud.imagetext.config import ImageTextSettings, PinnedFile
from models.cache import sha256_file

SIZE = 16
DIMENSION = 8
MAX_TOKENS = 12
WORDS = ("a", "man", "in", "red", "jacket", "white", "van", "person", "blue", "jeans")
SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
OPSET = 17


@dataclass(frozen=True)
class TinyClip:
    """The built files as settings, and the weights for computing expectations."""

    settings: ImageTextSettings
    image_weights: npt.NDArray[np.float32]
    token_embeddings: npt.NDArray[np.float32]
    tokenizer: Tokenizer


def _save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _image_encoder(weights: npt.NDArray[np.float32], path: Path) -> None:
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["pixel_values"], ["flat"], axis=1),
            helper.make_node("MatMul", ["flat", "w"], ["image_embeds"]),
        ],
        "tiny_image_encoder",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["n", DIMENSION])],
        [numpy_helper.from_array(weights, "w")],
    )
    _save(graph, path)


def _text_encoder(embeddings: npt.NDArray[np.float32], path: Path) -> None:
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["tokens"]),
            helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask", "two"], ["mask3"]),
            helper.make_node("Mul", ["tokens", "mask3"], ["kept"]),
            helper.make_node("ReduceSum", ["kept", "one"], ["text_embeds"], keepdims=0),
        ],
        "tiny_text_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "l"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["n", "l"]),
        ],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["n", DIMENSION])],
        [
            numpy_helper.from_array(embeddings, "table"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "two"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
        ],
    )
    _save(graph, path)


def _tokenizer(path: Path) -> Tokenizer:
    vocab = {token: i for i, token in enumerate((*SPECIAL, *WORDS))}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tokenizer.save(str(path))
    return tokenizer


def build_tiny_clip(directory: Path, seed: int = 20261127) -> TinyClip:
    """Write the three files into `directory`; settings pin their sha256 (CLIP's mean/std)."""
    rng = np.random.default_rng(seed)
    image_weights = rng.standard_normal((3 * SIZE * SIZE, DIMENSION)).astype(np.float32)
    token_embeddings = rng.standard_normal((len(SPECIAL) + len(WORDS), DIMENSION)).astype(
        np.float32
    )
    paths = {
        name: directory / file
        for name, file in (
            ("image_encoder", "image.onnx"),
            ("text_encoder", "text.onnx"),
            ("tokenizer", "tokenizer.json"),
        )
    }
    _image_encoder(image_weights, paths["image_encoder"])
    _text_encoder(token_embeddings, paths["text_encoder"])
    tokenizer = _tokenizer(paths["tokenizer"])
    pinned = {name: PinnedFile(path=path, sha256=sha256_file(path)) for name, path in paths.items()}
    settings = ImageTextSettings(
        **pinned, dimension=DIMENSION, width=SIZE, height=SIZE, max_tokens=MAX_TOKENS
    )
    return TinyClip(settings, image_weights, token_embeddings, tokenizer)
