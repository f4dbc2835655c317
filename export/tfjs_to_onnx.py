"""Convert a TF.js graph model to ONNX with numpy and `onnx.helper` only (no TensorFlow).

Public surface:
- `convert_graph_model(model_json, out_path, output_names)`: any TF.js graph model built from the
  ops in `SUPPORTED_OPS`; anything else raises `ConversionError` naming the op and node.
- `convert_nanodet(sources, out_path)`: the `models/nanodet-g.toml` build hook.

Why our own converter: tf2onnx gives correct models but different bytes on every run, so the
manifest could not pin a sha256 (seen with tf2onnx 1.16.1). This one is byte-deterministic: nodes
are emitted in a stable topological order, names come from the TF graph, and the ONNX IR/opset are
pinned.

How it works. NanoDet's TF.js file came from onnx-tf, so it computes in NCHW and wraps every
Conv2D/MaxPool/ResizeBilinear (NHWC-only in TF) in a pair of Transposes. We do not emit those:
each converted tensor carries `perm`, the permutation that turns the stored ONNX tensor into the TF
tensor, and a TF Transpose only updates `perm`. A real ONNX Transpose is emitted only where layout
matters (Reshape, graph outputs, mixing layouts). Zero Pads are then folded into Conv `pads`, -inf
Pads into MaxPool `pads`, and bias Adds into Conv `B`, so the ONNX is the plain NCHW network.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from export._tfjs_model import TfjsGraphModel, TfNode, load_graph_model

logger = logging.getLogger(__name__)

# Pinned so that a newer `onnx` package does not change the bytes we write. Opset 13 is read by
# every ONNX Runtime and TensorRT release a Jetson can run.
OPSET = 13
IR_VERSION = 7

# NanoDet's TF.js outputs are Identity..Identity_5; these names say what they hold. Scores are
# per-class sigmoid probabilities [1, cells, 80]; box logits are 4 sides x 11 distribution bins.
NANODET_OUTPUT_NAMES: Mapping[str, str] = {
    "Identity:0": "scores_stride8",
    "Identity_1:0": "scores_stride16",
    "Identity_2:0": "scores_stride32",
    "Identity_3:0": "box_logits_stride8",
    "Identity_4:0": "box_logits_stride16",
    "Identity_5:0": "box_logits_stride32",
}

_NHWC_IN_NCHW = (0, 2, 3, 1)  # perm of a TF NHWC tensor stored as ONNX NCHW
_COORDINATE_MODES = {
    (False, True): "half_pixel",
    (True, False): "align_corners",
    (False, False): "asymmetric",
}


class ConversionError(ValueError):
    """The TF.js graph uses something this converter does not translate."""


@dataclass(frozen=True)
class _Tensor:
    """A converted TF tensor: `np.transpose(stored_onnx_tensor, perm)` is the TF tensor."""

    name: str
    perm: tuple[int, ...]
    shape: tuple[int, ...]  # the TF (logical) shape


_Operand = _Tensor | np.ndarray  # Const values stay numpy until an ONNX node needs them


@dataclass
class _Node:
    op: str
    inputs: list[str]
    outputs: list[str]
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)


def _inverse(perm: Iterable[int]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argsort(tuple(perm)))


def _identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def _reshaped(shape: tuple[int, ...], target: np.ndarray) -> tuple[int, ...]:
    dims = [int(d) for d in target]
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1]))
        dims[dims.index(-1)] = int(np.prod(shape)) // known
    if int(np.prod(dims)) != int(np.prod(shape)):
        raise ConversionError(f"cannot reshape {shape} to {dims}")
    return tuple(dims)


def _tensor_key(ref: str) -> str:
    return ref if ":" in ref else f"{ref}:0"


class _Converter:
    def __init__(self, model: TfjsGraphModel) -> None:
        self.model = model
        self.values: dict[str, _Operand] = {}
        self.nodes: list[_Node] = []
        self.initializers: dict[str, np.ndarray] = {}
        self._relayouts: dict[tuple[str, tuple[int, ...]], _Tensor] = {}

    # -- operands ---------------------------------------------------------------------------
    def operand(self, ref: str) -> _Operand:
        try:
            return self.values[_tensor_key(ref)]
        except KeyError:
            raise ConversionError(f"tensor {ref} is used before it is defined") from None

    def tensor(self, node: TfNode, index: int) -> _Tensor:
        value = self.operand(node.inputs[index])
        if not isinstance(value, _Tensor):
            raise ConversionError(f"{node.op} {node.name}: input {index} is a constant")
        return value

    def constant(self, node: TfNode, index: int) -> np.ndarray:
        value = self.operand(node.inputs[index])
        if isinstance(value, _Tensor):
            raise ConversionError(f"{node.op} {node.name}: input {index} must be a constant")
        return value

    def initializer(self, name: str, array: np.ndarray) -> str:
        # np.ascontiguousarray would turn a scalar into shape [1]; Pad needs a true scalar.
        self.initializers[name] = np.array(array, order="C")
        return name

    def emit(self, node: TfNode, op: str, inputs: list[str], attrs: dict[str, Any]) -> str:
        self.nodes.append(_Node(op, inputs, [node.name], node.name, attrs))
        return node.name

    def relayout(self, value: _Tensor, perm: tuple[int, ...]) -> _Tensor:
        """`value` stored so that `perm` recovers the TF tensor; adds a Transpose if needed."""
        if value.perm == perm:
            return value
        key = (value.name, perm)
        if key not in self._relayouts:
            onnx_perm = [value.perm[i] for i in _inverse(perm)]
            name = f"{value.name}/transpose_{''.join(map(str, onnx_perm))}"
            self.nodes.append(_Node("Transpose", [value.name], [name], name, {"perm": onnx_perm}))
            self._relayouts[key] = _Tensor(name, perm, value.shape)
        return self._relayouts[key]

    def stored_constant(self, name: str, array: np.ndarray, like: _Tensor) -> str:
        """Add `array`, broadcast against the TF tensor `like`, in `like`'s stored layout."""
        rank = len(like.shape)
        expanded = array.reshape((1,) * (rank - array.ndim) + array.shape)
        return self.initializer(name, np.transpose(expanded, _inverse(like.perm)))

    # -- TF ops -----------------------------------------------------------------------------
    def op_const(self, node: TfNode) -> None:
        self.values[f"{node.name}:0"] = self.model.constants[node.name]

    def op_placeholder(self, node: TfNode) -> None:
        spec = next((s for s in self.model.inputs if s.name == f"{node.name}:0"), None)
        if spec is None or any(d < 1 for d in spec.shape):
            raise ConversionError(f"input {node.name} needs a fully static signature shape")
        if node.attr.get("dtype", {}).get("type") != "DT_FLOAT":
            raise ConversionError(f"input {node.name} must be float32")
        self.values[spec.name] = _Tensor(spec.name, _identity(len(spec.shape)), spec.shape)

    def op_identity(self, node: TfNode) -> None:
        self.values[f"{node.name}:0"] = self.operand(node.inputs[0])

    def op_transpose(self, node: TfNode) -> None:
        value, perm = self.operand(node.inputs[0]), self.constant(node, 1)
        if isinstance(value, np.ndarray):
            self.values[f"{node.name}:0"] = np.transpose(value, perm)
            return
        new_perm = tuple(value.perm[int(i)] for i in perm)
        shape = tuple(value.shape[int(i)] for i in perm)
        self.values[f"{node.name}:0"] = _Tensor(value.name, new_perm, shape)

    def op_add(self, node: TfNode) -> None:
        a, b = self.operand(node.inputs[0]), self.operand(node.inputs[1])
        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            self.values[f"{node.name}:0"] = a + b
            return
        like = a if isinstance(a, _Tensor) else b
        assert isinstance(like, _Tensor)
        inputs = []
        for index, value in enumerate((a, b)):
            if isinstance(value, np.ndarray):
                inputs.append(self.stored_constant(f"{node.name}/operand_{index}", value, like))
            else:
                inputs.append(self.relayout(value, like.perm).name)
        other_shape = b.shape if like is a else a.shape
        shape = tuple(int(d) for d in np.broadcast_shapes(like.shape, other_shape))
        self.values[f"{node.name}:0"] = _Tensor(
            self.emit(node, "Add", inputs, {}), like.perm, shape
        )

    def op_sparse_to_dense(self, node: TfNode) -> None:
        # Only constant shape arithmetic uses it in NanoDet, so it is folded, never emitted.
        indices, shape, values, default = (self.constant(node, i) for i in range(4))
        dense = np.full(tuple(shape), default, dtype=values.dtype)
        # TF allows scalar or [N] indices for 1-D outputs, [N, rank] otherwise.
        coords = indices.astype(np.int64).reshape(-1, 1) if indices.ndim < 2 else indices
        dense[tuple(coords.astype(np.int64).T)] = values
        self.values[f"{node.name}:0"] = dense

    def op_unary(self, node: TfNode) -> None:
        value = self.tensor(node, 0)
        attrs = {"alpha": node.attr_float("alpha")} if node.op == "LeakyRelu" else {}
        name = self.emit(node, node.op, [value.name], attrs)
        self.values[f"{node.name}:0"] = _Tensor(name, value.perm, value.shape)

    def op_pad(self, node: TfNode) -> None:
        value, paddings = self.tensor(node, 0), self.constant(node, 1).astype(np.int64)
        stored = paddings[list(_inverse(value.perm))]  # stored axis j is TF axis inverse[j]
        inputs = [value.name, self.initializer(f"{node.name}/pads", stored.T.reshape(-1))]
        if node.op == "PadV2":
            fill = self.constant(node, 2).astype(np.float32).reshape(())
            inputs.append(self.initializer(f"{node.name}/constant_value", fill))
        shape = tuple(int(d + lo + hi) for d, (lo, hi) in zip(value.shape, paddings, strict=True))
        name = self.emit(node, "Pad", inputs, {"mode": "constant"})
        self.values[f"{node.name}:0"] = _Tensor(name, value.perm, shape)

    def _nhwc_window(self, node: TfNode) -> tuple[_Tensor, list[int]]:
        if node.attr_str("data_format") != "NHWC" or node.attr_str("padding") != "VALID":
            raise ConversionError(f"{node.op} {node.name}: only NHWC with VALID padding")
        strides = node.attr_ints("strides")
        if strides[0] != 1 or strides[3] != 1:
            raise ConversionError(f"{node.op} {node.name}: batch/channel strides {strides}")
        return self.relayout(self.tensor(node, 0), _NHWC_IN_NCHW), list(strides[1:3])

    def op_conv2d(self, node: TfNode) -> None:
        value, strides = self._nhwc_window(node)
        kernel = self.constant(node, 1)  # HWIO
        dilations = list(node.attr_ints("dilations", default=(1, 1, 1, 1))[1:3])
        n, h, w, c = value.shape
        if kernel.shape[2] != c:
            raise ConversionError(f"Conv2D {node.name}: grouped convolution is not supported")
        weight = self.initializer(f"{node.name}/weight", np.transpose(kernel, (3, 2, 0, 1)))
        attrs = {"kernel_shape": list(kernel.shape[:2]), "strides": strides, "dilations": dilations}
        span = [(k - 1) * d + 1 for k, d in zip(kernel.shape[:2], dilations, strict=True)]
        shape = (
            n,
            (h - span[0]) // strides[0] + 1,
            (w - span[1]) // strides[1] + 1,
            kernel.shape[3],
        )
        name = self.emit(node, "Conv", [value.name, weight], attrs)
        self.values[f"{node.name}:0"] = _Tensor(name, _NHWC_IN_NCHW, shape)

    def op_max_pool(self, node: TfNode) -> None:
        value, strides = self._nhwc_window(node)
        ksize = list(node.attr_ints("ksize")[1:3])
        n, h, w, c = value.shape
        shape = (n, (h - ksize[0]) // strides[0] + 1, (w - ksize[1]) // strides[1] + 1, c)
        name = self.emit(node, "MaxPool", [value.name], {"kernel_shape": ksize, "strides": strides})
        self.values[f"{node.name}:0"] = _Tensor(name, _NHWC_IN_NCHW, shape)

    def op_resize_bilinear(self, node: TfNode) -> None:
        value = self.relayout(self.tensor(node, 0), _NHWC_IN_NCHW)
        height, width = (int(d) for d in self.constant(node, 1))
        modes = (node.attr_bool("align_corners"), node.attr_bool("half_pixel_centers"))
        if modes not in _COORDINATE_MODES:
            raise ConversionError(
                f"ResizeBilinear {node.name}: align_corners and half_pixel both set"
            )
        n, _, _, c = value.shape
        sizes = self.initializer(f"{node.name}/sizes", np.array([n, c, height, width], np.int64))
        attrs = {"mode": "linear", "coordinate_transformation_mode": _COORDINATE_MODES[modes]}
        name = self.emit(node, "Resize", [value.name, "", "", sizes], attrs)
        self.values[f"{node.name}:0"] = _Tensor(name, _NHWC_IN_NCHW, (n, height, width, c))

    def op_concat(self, node: TfNode) -> None:
        first = self.tensor(node, 0)
        parts = [
            self.relayout(self.tensor(node, i), first.perm) for i in range(len(node.inputs) - 1)
        ]
        axis = int(self.constant(node, len(node.inputs) - 1)) % len(first.shape)
        shape = list(first.shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        name = self.emit(node, "Concat", [p.name for p in parts], {"axis": first.perm[axis]})
        self.values[f"{node.name}:0"] = _Tensor(name, first.perm, tuple(shape))

    def op_split(self, node: TfNode) -> None:
        value, sizes = self.tensor(node, 0), self.constant(node, 1).astype(np.int64)
        axis = int(self.constant(node, 2)) % len(value.shape)
        if (sizes == -1).any():
            sizes[sizes == -1] = value.shape[axis] - sizes[sizes != -1].sum()
        outputs = [node.name] + [f"{node.name}:{i}" for i in range(1, len(sizes))]
        split = self.initializer(f"{node.name}/split", sizes)
        attrs = {"axis": value.perm[axis]}
        self.nodes.append(_Node("Split", [value.name, split], outputs, node.name, attrs))
        for index, (output, size) in enumerate(zip(outputs, sizes, strict=True)):
            shape = (*value.shape[:axis], int(size), *value.shape[axis + 1 :])
            self.values[f"{node.name}:{index}"] = _Tensor(output, value.perm, shape)

    def op_reshape(self, node: TfNode) -> None:
        value, target = self.operand(node.inputs[0]), self.constant(node, 1).astype(np.int64)
        if isinstance(value, np.ndarray):
            self.values[f"{node.name}:0"] = value.reshape(target)
            return
        # Reshape follows memory order, so the stored tensor must be in TF layout first.
        value = self.relayout(value, _identity(len(value.shape)))
        shape = _reshaped(value.shape, target)
        name = self.emit(
            node, "Reshape", [value.name, self.initializer(f"{node.name}/shape", target)], {}
        )
        self.values[f"{node.name}:0"] = _Tensor(name, _identity(len(shape)), shape)


_Handler = Callable[[_Converter, TfNode], None]
_HANDLERS: Mapping[str, _Handler] = {
    "Const": _Converter.op_const,
    "Placeholder": _Converter.op_placeholder,
    "Identity": _Converter.op_identity,
    "Transpose": _Converter.op_transpose,
    "Add": _Converter.op_add,
    "AddV2": _Converter.op_add,
    "SparseToDense": _Converter.op_sparse_to_dense,
    "LeakyRelu": _Converter.op_unary,
    "Sigmoid": _Converter.op_unary,
    "Pad": _Converter.op_pad,
    "PadV2": _Converter.op_pad,
    "Conv2D": _Converter.op_conv2d,
    "MaxPool": _Converter.op_max_pool,
    "ResizeBilinear": _Converter.op_resize_bilinear,
    "ConcatV2": _Converter.op_concat,
    "SplitV": _Converter.op_split,
    "Reshape": _Converter.op_reshape,
}
SUPPORTED_OPS = frozenset(_HANDLERS)


def _execution_order(model: TfjsGraphModel) -> list[TfNode]:
    """Nodes the outputs depend on, topologically sorted, ties broken by file order."""
    index = {node.name: i for i, node in enumerate(model.nodes)}
    producers = {node.name: [ref.split(":")[0] for ref in node.inputs] for node in model.nodes}
    needed: set[str] = set()
    stack = [spec.name.split(":")[0] for spec in model.outputs]
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(producers[name])
    waiting = {name: len(set(producers[name])) for name in needed}
    consumers: dict[str, list[str]] = {name: [] for name in needed}
    for name in needed:
        for producer in set(producers[name]):
            consumers[producer].append(name)
    ready = [index[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[TfNode] = []
    while ready:
        node = model.nodes[heapq.heappop(ready)]
        order.append(node)
        for consumer in consumers[node.name]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                heapq.heappush(ready, index[consumer])
    return order


def _consumers(nodes: list[_Node], outputs: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(outputs, 1)
    for node in nodes:
        for name in node.inputs:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _fold_pads(
    nodes: list[_Node], initializers: Mapping[str, np.ndarray], outputs: list[str]
) -> None:
    """Turn Pad -> Conv (zeros) and Pad -> MaxPool (-inf) into the consumer's own `pads`."""
    producers = {out: node for node in nodes for out in node.outputs}
    uses = _consumers(nodes, outputs)
    fill_for = {"Conv": 0.0, "MaxPool": -np.inf}
    for node in list(nodes):  # a copy: folded Pads are removed from `nodes` on the way
        pad = producers.get(node.inputs[0])
        if node.op not in fill_for or pad is None or pad.op != "Pad" or uses[pad.outputs[0]] != 1:
            continue
        pads = initializers[pad.inputs[1]]
        fill = float(initializers[pad.inputs[2]]) if len(pad.inputs) > 2 else 0.0
        if fill != fill_for[node.op] or pads[[0, 1, 4, 5]].any():
            continue
        node.attrs["pads"] = [int(p) for p in pads[[2, 3, 6, 7]]]
        node.inputs[0] = pad.inputs[0]
        nodes.remove(pad)


def _fold_biases(
    nodes: list[_Node], initializers: dict[str, np.ndarray], outputs: list[str]
) -> None:
    """Turn Conv -> Add(constant [1, C, 1, 1]) into the Conv's bias input."""
    producers = {out: node for node in nodes for out in node.outputs}
    uses = _consumers(nodes, outputs)
    for add in [node for node in nodes if node.op == "Add"]:
        conv = producers.get(add.inputs[0])
        bias = initializers.get(add.inputs[1])
        if conv is None or conv.op != "Conv" or len(conv.inputs) != 2 or bias is None:
            continue
        channels = initializers[conv.inputs[1]].shape[0]
        if uses[conv.outputs[0]] != 1 or bias.shape != (1, channels, 1, 1):
            continue
        conv.inputs.append(add.inputs[1])
        initializers[add.inputs[1]] = bias.reshape(channels)
        conv.outputs = add.outputs
        nodes.remove(add)


def _rename(nodes: list[_Node], old: str, new: str) -> None:
    for node in nodes:
        node.inputs = [new if name == old else name for name in node.inputs]
        node.outputs = [new if name == old else name for name in node.outputs]


def _build_model(converter: _Converter, output_names: Mapping[str, str]) -> onnx.ModelProto:
    model = converter.model
    outputs: list[onnx.ValueInfoProto] = []
    # Renamed outputs come first, in the caller's order; the signature's own order is arbitrary.
    rank = {name: i for i, name in enumerate(output_names)}
    for spec in sorted(model.outputs, key=lambda spec: rank.get(spec.name, len(rank))):
        value = converter.values[spec.name]
        if not isinstance(value, _Tensor) or value.shape != spec.shape:
            got = value.shape if isinstance(value, _Tensor) else "a constant"
            raise ConversionError(f"output {spec.name}: expected shape {spec.shape}, got {got}")
        value = converter.relayout(value, _identity(len(value.shape)))
        name = output_names.get(spec.name, spec.name)
        _rename(converter.nodes, value.name, name)
        outputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, value.shape))
    output_list = [o.name for o in outputs]
    _fold_pads(converter.nodes, converter.initializers, output_list)
    _fold_biases(converter.nodes, converter.initializers, output_list)
    used = {name for node in converter.nodes for name in node.inputs}
    graph = helper.make_graph(
        nodes=[
            helper.make_node(n.op, n.inputs, n.outputs, name=n.name, **n.attrs)
            for n in converter.nodes
        ],
        name=Path(model.source_name).stem,
        inputs=[
            helper.make_tensor_value_info(spec.name, onnx.TensorProto.FLOAT, spec.shape)
            for spec in model.inputs
        ],
        outputs=outputs,
        initializer=[
            numpy_helper.from_array(array, name)
            for name, array in converter.initializers.items()
            if name in used
        ],
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="sightline export.tfjs_to_onnx",
        doc_string=f"Converted from the TF.js graph model {model.source_name}.",
    )
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def convert_graph_model(
    model_json: Path, out_path: Path, output_names: Mapping[str, str] | None = None
) -> None:
    """Convert the TF.js graph model at `model_json` (weights beside it) into `out_path`.

    `output_names` renames signature outputs (`Identity:0` -> `scores_stride8`); inputs keep their
    TF tensor names. Raises `ConversionError` for ops outside `SUPPORTED_OPS` or layouts we do not
    translate, and `onnx.checker.ValidationError` if the result is not a valid model. The same
    input always gives the same bytes.
    """
    model = load_graph_model(model_json)
    converter = _Converter(model)
    for node in _execution_order(model):
        handler = _HANDLERS.get(node.op)
        if handler is None:
            supported = ", ".join(sorted(SUPPORTED_OPS))
            raise ConversionError(
                f"unsupported TF op {node.op} (node {node.name}); supported: {supported}"
            )
        handler(converter, node)
    onnx_model = _build_model(converter, output_names or {})
    out_path.write_bytes(onnx_model.SerializeToString())
    logger.info(
        "converted %s: %d ONNX nodes, %d initializers",
        model.source_name,
        len(onnx_model.graph.node),
        len(onnx_model.graph.initializer),
    )


def convert_nanodet(sources: Mapping[str, Path], out_path: Path) -> None:
    """Build hook for `models/nanodet-g.toml`: the one `.json` source is the TF.js graph model."""
    model_jsons = [path for key, path in sources.items() if key.endswith(".json")]
    if len(model_jsons) != 1:
        raise ConversionError(f"expected exactly one model.json among {sorted(sources)}")
    convert_graph_model(model_jsons[0], out_path, NANODET_OUTPUT_NAMES)
