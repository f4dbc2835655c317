"""The TF.js -> ONNX converter, checked without TensorFlow.

A small graph in the shape onnx-tf writes (NCHW tensors, NHWC-only ops wrapped in Transposes) uses
every supported op; ONNX Runtime's result is compared with the same network written in numpy,
TF semantics included (VALID windows after explicit pads, half-pixel bilinear resizing). The real
NanoDet file is checked in the slow test at the bottom. Its outputs were also compared once with
TensorFlow 2.15 running the TF.js graph (outside the repository): max abs diff 1.2e-5 on box
logits up to 9, 5.7e-7 on scores.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytest

from export.tfjs_to_onnx import (
    NANODET_OUTPUT_NAMES,
    ConversionError,
    convert_graph_model,
    convert_nanodet,
)
from models.cache import BUILD_COMMAND, cache_root, downloads_dir, sha256_file
from models.fetch import extract, fetch_archive
from models.manifest import Source, load_manifest
from tests.models.built_models import unavailable

Array = npt.NDArray[Any]
RNG = np.random.default_rng(7)
NCHW_TO_NHWC = [0, 2, 3, 1]
NHWC_TO_NCHW = [0, 3, 1, 2]


class GraphWriter:
    """Writes a TF.js graph model: nodes as GraphDef JSON, Const values packed into one shard."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.weights: list[tuple[dict[str, Any], bytes]] = []

    def const(self, name: str, value: Array, *, half: bool = False) -> str:
        dtype = {"f": ("float32", "DT_FLOAT"), "i": ("int32", "DT_INT32")}[value.dtype.kind]
        entry: dict[str, Any] = {"name": name, "shape": list(value.shape), "dtype": dtype[0]}
        if half:
            entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
        stored = value.astype(np.float16 if half else dtype[0])
        self.weights.append((entry, stored.astype(stored.dtype.newbyteorder("<")).tobytes()))
        self.nodes.append({"name": name, "op": "Const", "attr": {"dtype": {"type": dtype[1]}}})
        return name

    def op(self, name: str, op: str, inputs: list[str], **attr: Any) -> str:
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": attr})
        return name

    def write(
        self, folder: Path, inputs: dict[str, list[int]], outputs: dict[str, list[int]]
    ) -> Path:
        def spec(name: str, shape: list[int]) -> dict[str, Any]:
            dims = [{"size": str(d)} for d in shape]
            return {"name": name, "dtype": "DT_FLOAT", "tensorShape": {"dim": dims}}

        (folder / "model.bin").write_bytes(b"".join(data for _, data in self.weights))
        doc = {
            "format": "graph-model",
            "signature": {
                "inputs": {n: spec(n, s) for n, s in inputs.items()},
                "outputs": {n: spec(n, s) for n, s in outputs.items()},
            },
            "modelTopology": {"node": self.nodes},
            "weightsManifest": [
                {"paths": ["model.bin"], "weights": [entry for entry, _ in self.weights]}
            ],
        }
        path = folder / "model.json"
        path.write_text(json.dumps(doc))
        return path


def text(value: str) -> dict[str, str]:
    return {"s": base64.b64encode(value.encode()).decode()}


def ints(*values: int) -> dict[str, Any]:
    return {"list": {"i": [str(v) for v in values]}}


WINDOW = {"data_format": text("NHWC"), "padding": text("VALID"), "strides": ints(1, 1, 1, 1)}


def small_network(folder: Path) -> tuple[Path, dict[str, Array]]:
    """An onnx-tf style graph on a [1, 3, 8, 8] input, and the constants it holds."""
    g = GraphWriter()
    c = {
        "kernel": RNG.normal(size=(3, 3, 3, 4)).astype(np.float32),
        "bias": RNG.normal(size=4).astype(np.float32),
    }
    perm_in = g.const("to_nhwc", np.array(NCHW_TO_NHWC, np.int32))
    perm_out = g.const("to_nchw", np.array(NHWC_TO_NCHW, np.int32))
    pads = g.const("pads", np.array([[0, 0], [0, 0], [1, 1], [1, 1]], np.int32))
    g.op("input", "Placeholder", [], dtype={"type": "DT_FLOAT"})
    g.op("pad", "Pad", ["input", pads])
    g.op("conv_in", "Transpose", ["pad", perm_in])
    g.op("conv", "Conv2D", ["conv_in", g.const("kernel", c["kernel"], half=True)], **WINDOW)
    g.op("biased", "Add", ["conv", g.const("bias", c["bias"])])
    g.op("conv_out", "Transpose", ["biased", perm_out])
    g.op("act", "LeakyRelu", ["conv_out"], alpha={"f": 0.1})
    minus_inf = g.const("minus_inf", np.array(-np.inf, np.float32))
    g.op("pool_pad", "PadV2", ["act", pads, minus_inf])
    g.op("pool_in", "Transpose", ["pool_pad", perm_in])
    pool_window = dict(WINDOW, ksize=ints(1, 3, 3, 1), strides=ints(1, 2, 2, 1))
    g.op("pool", "MaxPool", ["pool_in"], **pool_window)
    half_pixel = {"half_pixel_centers": {"b": True}}
    g.op("act_nhwc", "Transpose", ["act", perm_in])
    g.op(
        "down",
        "ResizeBilinear",
        ["act_nhwc", g.const("size4", np.array([4, 4], np.int32))],
        **half_pixel,
    )
    g.op("mixed", "AddV2", ["pool", "down"])
    g.op(
        "up",
        "ResizeBilinear",
        ["mixed", g.const("size8", np.array([8, 8], np.int32))],
        **half_pixel,
    )
    g.op("up_nchw", "Transpose", ["up", perm_out])
    g.op("residual", "Add", ["act", "up_nchw"])
    g.op(
        "joined",
        "ConcatV2",
        ["residual", "act", g.const("axis1", np.array(1, np.int32))],
        N={"i": "2"},
    )
    sizes = g.const("sizes", np.array([5, -1], np.int32))
    g.op(
        "parts",
        "SplitV",
        ["joined", sizes, g.const("split_axis", np.array(1, np.int32))],
        num_split={"i": "2"},
    )
    g.op("probs", "Sigmoid", ["parts"])
    flat5 = g.const("flat5", np.array([1, 5, -1], np.int32))
    g.op("rows5", "Reshape", ["probs", flat5])
    cells_last = g.const("cells_last", np.array([0, 2, 1], np.int32))
    g.op("scores", "Transpose", ["rows5", cells_last])
    g.op("Identity", "Identity", ["scores"])
    # [1, 3, -1] computed the way onnx-tf does it: base + SparseToDense(no indices) = base.
    empty = [
        g.const("no_indices", np.zeros((0, 1), np.int32)),
        g.const("dense_shape", np.array([3], np.int32)),
        g.const("no_values", np.zeros(0, np.int32)),
        g.const("zero", np.array(0, np.int32)),
    ]
    g.op("delta", "SparseToDense", empty)
    g.op("flat3", "AddV2", [g.const("flat3_base", np.array([1, 3, -1], np.int32)), "delta"])
    g.op("rows3", "Reshape", ["parts:1", "flat3"])
    g.op("boxes", "Transpose", ["rows3", cells_last])
    g.op("Identity_1", "Identity", ["boxes"])
    model = g.write(
        folder, {"input:0": [1, 3, 8, 8]}, {"Identity:0": [1, 64, 5], "Identity_1:0": [1, 64, 3]}
    )
    return model, c


def conv_valid(x: Array, kernel: Array) -> Array:
    """NCHW x, HWIO kernel, stride 1, no padding."""
    kh, kw = kernel.shape[:2]
    out_h, out_w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros((1, kernel.shape[3], out_h, out_w), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nchw,co->nohw", x[:, :, i : i + out_h, j : j + out_w], kernel[i, j])
    return out


def resize_half_pixel(x: Array, size: int) -> Array:
    """TF ResizeBilinear with half_pixel_centers on a square NCHW tensor."""
    n = x.shape[2]
    source = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, None)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, n - 1)
    frac = source - low
    rows: Array = x[:, :, low] * (1 - frac)[:, None] + x[:, :, high] * frac[:, None]
    resized: Array = rows[..., low] * (1 - frac) + rows[..., high] * frac
    return resized


def reference(x: Array, c: dict[str, Array]) -> tuple[Array, Array]:
    kernel = c["kernel"].astype(np.float16).astype(np.float64)  # stored as float16
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = conv_valid(padded, kernel) + c["bias"][None, :, None, None]
    act = np.where(conv > 0, conv, 0.1 * conv)
    pool_in = np.pad(act, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    pool = np.empty((1, 4, 4, 4))
    for i in range(4):
        for j in range(4):
            pool[:, :, i, j] = pool_in[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max(axis=(2, 3))
    residual = act + resize_half_pixel(pool + resize_half_pixel(act, 4), 8)
    joined = np.concatenate([residual, act], axis=1)
    scores = 1 / (1 + np.exp(-joined[:, :5]))
    return scores.reshape(1, 5, -1).transpose(0, 2, 1), joined[:, 5:].reshape(1, 3, -1).transpose(
        0, 2, 1
    )


@pytest.fixture
def small_onnx(tmp_path: Path) -> tuple[Path, dict[str, Array]]:
    model_json, constants = small_network(tmp_path)
    out = tmp_path / "small.onnx"
    convert_graph_model(model_json, out, {"Identity:0": "scores", "Identity_1:0": "boxes"})
    return out, constants


def test_the_converted_graph_computes_what_the_tf_graph_means(
    small_onnx: tuple[Path, dict[str, Array]],
) -> None:
    path, constants = small_onnx
    x = RNG.normal(size=(1, 3, 8, 8)).astype(np.float32)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores, boxes = session.run(["scores", "boxes"], {"input:0": x})

    want_scores, want_boxes = reference(x.astype(np.float64), constants)
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)
    np.testing.assert_allclose(boxes, want_boxes, atol=1e-5)


def test_layout_transposes_pads_and_biases_are_folded_away(
    small_onnx: tuple[Path, dict[str, Array]],
) -> None:
    graph = onnx.load(str(small_onnx[0])).graph

    ops = Counter(node.op_type for node in graph.node)
    conv = next(node for node in graph.node if node.op_type == "Conv")

    # Only the two [0, 2, 1] output transposes remain; the Pads became Conv/MaxPool pads.
    assert ops["Transpose"] == 2 and ops["Pad"] == 0
    assert len(conv.input) == 3  # the bias Add was folded in
    assert [o.name for o in graph.output] == ["scores", "boxes"]


def test_it_writes_the_same_bytes_every_time(tmp_path: Path) -> None:
    model_json, _ = small_network(tmp_path)

    convert_graph_model(model_json, tmp_path / "a.onnx")
    convert_graph_model(model_json, tmp_path / "b.onnx")

    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()


def test_an_unsupported_op_is_named_in_the_error(tmp_path: Path) -> None:
    g = GraphWriter()
    g.op("input", "Placeholder", [], dtype={"type": "DT_FLOAT"})
    g.op("clipped", "Relu6", ["input"])
    g.op("Identity", "Identity", ["clipped"])
    model_json = g.write(tmp_path, {"input:0": [1, 4]}, {"Identity:0": [1, 4]})

    with pytest.raises(ConversionError, match="unsupported TF op Relu6 \\(node clipped\\)"):
        convert_graph_model(model_json, tmp_path / "out.onnx")


def test_a_signature_shape_that_the_graph_does_not_produce_is_an_error(tmp_path: Path) -> None:
    g = GraphWriter()
    g.op("input", "Placeholder", [], dtype={"type": "DT_FLOAT"})
    g.op("Identity", "Sigmoid", ["input"])
    model_json = g.write(tmp_path, {"input:0": [1, 4]}, {"Identity:0": [1, 5]})

    with pytest.raises(ConversionError, match=r"expected shape \(1, 5\), got \(1, 4\)"):
        convert_graph_model(model_json, tmp_path / "out.onnx")


@pytest.mark.slow
def test_nanodet_converts_to_the_pinned_bytes_with_named_outputs(tmp_path: Path) -> None:
    manifest = load_manifest("nanodet-g")
    source: Source = manifest.source
    archive = fetch_archive(source, downloads_dir(cache_root()), _downloaded_only)
    sources = extract(archive, source.files, tmp_path / "src")

    convert_nanodet(sources, tmp_path / "nanodet.onnx")

    assert sha256_file(tmp_path / "nanodet.onnx") == manifest.output.sha256
    outputs = [o.name for o in onnx.load(str(tmp_path / "nanodet.onnx")).graph.output]
    assert outputs == list(NANODET_OUTPUT_NAMES.values())


def _downloaded_only(source: Source, dest: Path) -> Path:
    """Stands in for the registry client: this test uses only an archive already downloaded."""
    unavailable(f"{source.package} {source.version} is not downloaded: run `{BUILD_COMMAND}`")
