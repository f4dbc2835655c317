"""A small helper for writing ONNX graphs node by node with ``onnx.helper``.

Public surface: :class:`GraphBuilder` and :func:`save_deterministic`.

The converters in this package build their graphs from numpy weights instead of tracing a
framework, so that the same weights always give the same file bytes (its sha256 is pinned in the
model manifests). Everything that could vary between runs is fixed here: tensor names come from a
counter, nodes and initializers keep insertion order, the producer fields are constants and the
protobuf is serialised deterministically.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import helper, numpy_helper

# Opset 17 is the newest that TensorRT 8.5 (JetPack 5) parses, and the first with
# LayerNormalization; nothing here needs a later one.
OPSET = 17
_PRODUCER = "sightline-export"


class GraphBuilder:
    """Accumulates nodes and initializers, naming every value uniquely and reproducibly."""

    def __init__(self) -> None:
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[onnx.TensorProto] = []
        self._used: Counter[str] = Counter()

    def _unique(self, hint: str) -> str:
        self._used[hint] += 1
        count = self._used[hint]
        return hint if count == 1 else f"{hint}_{count}"

    def const(self, hint: str, array: npt.ArrayLike, dtype: npt.DTypeLike = None) -> str:
        """Add an initializer (copied, C order) and return its name."""
        name = self._unique(hint)
        value = np.ascontiguousarray(np.asarray(array, dtype=dtype))
        self._initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        """Add a single-output node and return the name of its output."""
        (output,) = self.op_multi(op_type, inputs, [hint], **attrs)
        return output

    def op_multi(
        self, op_type: str, inputs: list[str], hints: list[str], **attrs: Any
    ) -> list[str]:
        """Add a node with several outputs and return their names."""
        outputs = [self._unique(h) for h in hints]
        node_name = self._unique(f"{op_type}_{hints[0]}")
        self._nodes.append(helper.make_node(op_type, inputs, outputs, name=node_name, **attrs))
        return outputs

    def build(
        self,
        graph_name: str,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        doc: str,
    ) -> onnx.ModelProto:
        """Assemble and check the model (opset :data:`OPSET`, IR version pinned for ORT)."""
        graph = helper.make_graph(
            self._nodes, graph_name, inputs, outputs, initializer=self._initializers
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=_PRODUCER,
            producer_version="1",
            doc_string=doc,
            # Pinned rather than taken from the installed onnx, which would change the bytes.
            ir_version=8,
        )
        onnx.checker.check_model(model, full_check=True)
        return model


def save_deterministic(model: onnx.ModelProto, out_path: Path) -> None:
    """Write ``model`` as one file whose bytes depend only on the model's content."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(model.SerializeToString(deterministic=True))
