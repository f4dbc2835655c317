"""Read a TF.js graph model (`model.json` plus its weight shards) into plain Python and numpy.

The format is the one `tensorflowjs_converter --output_format=tfjs_graph_model` writes: a GraphDef
as JSON under `modelTopology`, and a `weightsManifest` listing the Const tensors in the order they
are packed in the `.bin` shards. Only what NanoDet's file uses is supported; anything else raises
`TfjsFormatError` naming what was found.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

_PLAIN_DTYPES: Mapping[str, npt.DTypeLike] = {"float32": np.float32, "int32": np.int32}
# The graph keeps the TF dtype of each Const; TF.js stores int64 as int32 and we cast it back.
_GRAPH_DTYPES: Mapping[str, npt.DTypeLike] = {
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
}


class TfjsFormatError(ValueError):
    """The model.json or its weights are not in the subset of the TF.js format we read."""


@dataclass(frozen=True)
class TfNode:
    """One GraphDef node. `inputs` are tensor references (`name` or `name:index`)."""

    name: str
    op: str
    inputs: tuple[str, ...]
    attr: Mapping[str, Any]

    def _value(self, key: str) -> Any:
        try:
            return self.attr[key]
        except KeyError:
            raise TfjsFormatError(
                f"node {self.name} ({self.op}) has no attribute {key!r}"
            ) from None

    def attr_str(self, key: str) -> str:
        """A string attribute (stored base64-encoded in the JSON)."""
        return base64.b64decode(self._value(key)["s"]).decode()

    def attr_float(self, key: str) -> float:
        """A float attribute."""
        return float(self._value(key)["f"])

    def attr_bool(self, key: str, default: bool = False) -> bool:
        """A bool attribute; protobuf JSON omits false values, hence the default."""
        return bool(self.attr.get(key, {}).get("b", default))

    def attr_ints(self, key: str, default: tuple[int, ...] | None = None) -> tuple[int, ...]:
        """A list-of-ints attribute (int64 values are JSON strings); `default` when absent."""
        if default is not None and key not in self.attr:
            return default
        return tuple(int(i) for i in self._value(key).get("list", {}).get("i", []))


@dataclass(frozen=True)
class TensorSpec:
    """A signature entry: TF tensor name (`node:0`) and its static shape."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class TfjsGraphModel:
    """A parsed graph model: nodes in file order, Const values, and the serving signature."""

    source_name: str
    nodes: tuple[TfNode, ...]
    constants: Mapping[str, np.ndarray]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def load_graph_model(model_json: Path) -> TfjsGraphModel:
    """Parse `model_json` and the weight shards it names (looked up beside it)."""
    doc = json.loads(model_json.read_text())
    if doc.get("format") != "graph-model":
        raise TfjsFormatError(f"{model_json.name}: format {doc.get('format')!r}, not graph-model")
    nodes = tuple(_parse_node(raw) for raw in doc["modelTopology"]["node"])
    constants = _load_weights(model_json.parent, doc["weightsManifest"], nodes)
    signature = doc.get("signature")
    if not signature:
        raise TfjsFormatError(f"{model_json.name}: no serving signature (inputs/outputs unknown)")
    return TfjsGraphModel(
        source_name=model_json.name,
        nodes=nodes,
        constants=constants,
        inputs=tuple(_tensor_spec(spec) for spec in signature["inputs"].values()),
        outputs=tuple(_tensor_spec(spec) for spec in signature["outputs"].values()),
    )


def _parse_node(raw: Mapping[str, Any]) -> TfNode:
    # "^name" inputs are control dependencies: they order stateful ops in TF and carry no data,
    # so a pure inference graph loses nothing by dropping them.
    inputs = tuple(ref for ref in raw.get("input", []) if not ref.startswith("^"))
    return TfNode(name=raw["name"], op=raw["op"], inputs=inputs, attr=raw.get("attr", {}))


def _tensor_spec(raw: Mapping[str, Any]) -> TensorSpec:
    dims = raw["tensorShape"]["dim"]
    return TensorSpec(name=raw["name"], shape=tuple(int(d.get("size", -1)) for d in dims))


def _load_weights(
    folder: Path, manifest: list[Mapping[str, Any]], nodes: tuple[TfNode, ...]
) -> dict[str, np.ndarray]:
    graph_dtypes = {n.name: n.attr.get("dtype", {}).get("type") for n in nodes if n.op == "Const"}
    values: dict[str, np.ndarray] = {}
    for group in manifest:
        # A group's shards are one byte stream split into files of at most a few MB.
        blob = b"".join((folder / path).read_bytes() for path in group["paths"])
        offset = 0
        for entry in group["weights"]:
            array, offset = _read_weight(blob, offset, entry)
            name = entry["name"]
            graph_dtype = _GRAPH_DTYPES.get(graph_dtypes.get(name) or "")
            values[name] = array.astype(graph_dtype) if graph_dtype is not None else array
        if offset != len(blob):
            raise TfjsFormatError(f"weights of {group['paths']}: {len(blob) - offset} bytes left")
    return values


def _read_weight(blob: bytes, offset: int, entry: Mapping[str, Any]) -> tuple[np.ndarray, int]:
    shape = tuple(int(d) for d in entry["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    quantization = entry.get("quantization")
    if quantization is not None:
        # float16 "quantization" is plain half precision; the affine uint8/uint16 kinds are not
        # used by the models we convert.
        if quantization.get("dtype") != "float16" or entry["dtype"] != "float32":
            raise TfjsFormatError(
                f"weight {entry['name']}: unsupported quantization {quantization}"
            )
        stored: npt.DTypeLike = np.float16
    elif entry["dtype"] in _PLAIN_DTYPES:
        stored = _PLAIN_DTYPES[entry["dtype"]]
    else:
        raise TfjsFormatError(f"weight {entry['name']}: unsupported dtype {entry['dtype']}")
    raw = np.frombuffer(blob, dtype=np.dtype(stored).newbyteorder("<"), count=count, offset=offset)
    array = raw.astype(_PLAIN_DTYPES[entry["dtype"]]).reshape(shape)
    return array, offset + raw.nbytes
