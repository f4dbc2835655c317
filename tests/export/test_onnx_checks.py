"""The static checks of an exported file, on small graphs written with onnx.helper (no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from export.onnx_checks import (
    OPSET_KEY,
    OnnxCheckError,
    check_graph,
    metadata,
    record_metadata,
)
from export.onnx_graph import OPSET, GraphBuilder


def _save(
    tmp_path: Path, builder: GraphBuilder, batch: int | str, out_shape: list[int | str]
) -> Path:
    """The builder's graph with input images [batch, 3, 8, 8] and output "pooled" declared as
    `out_shape`, saved unchecked (the checks under test must find what is wrong)."""
    graph = helper.make_graph(
        builder._nodes,
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, 8, 8])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, out_shape)],
        initializer=builder._initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return path


def _pool() -> GraphBuilder:
    builder = GraphBuilder()
    builder.op("GlobalAveragePool", ["images"], "pooled")
    return builder


def test_a_graph_with_a_symbolic_batch_passes_with_inferred_shapes(tmp_path: Path) -> None:
    path = _save(tmp_path, _pool(), "batch", ["batch", 3, 1, 1])

    report = check_graph(path)

    assert report.opset == OPSET
    assert [(i.name, i.shape) for i in report.inputs] == [("images", ("batch", 3, 8, 8))]
    assert [(o.name, o.shape) for o in report.outputs] == [("pooled", ("batch", 3, 1, 1))]


def test_a_fixed_batch_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path, _pool(), 1, [1, 3, 1, 1])

    with pytest.raises(OnnxCheckError, match=r"input images: batch axis is 1, not symbolic"):
        check_graph(path)


def test_a_declared_output_shape_the_graph_contradicts_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path, _pool(), "batch", ["batch", 3])

    with pytest.raises(OnnxCheckError, match="differ in rank"):
        check_graph(path)


def test_an_output_shape_only_declared_is_not_trusted(tmp_path: Path) -> None:
    # The declared [batch] satisfies the checker; inferred afresh, the size is unknown.
    builder = GraphBuilder()
    # Reshape to a shape computed at run time from the input's values: not even the rank of
    # the result is known before the values are.
    largest = builder.op("ReduceMax", ["images"], "largest", keepdims=0)
    size = builder.op("Cast", [largest], "size", to=TensorProto.INT64)
    shape = builder.op("Reshape", [size, builder.const("one", np.array([1], np.int64))], "shape")
    builder.op("Reshape", ["images", shape], "pooled")
    path = _save(tmp_path, builder, "batch", ["batch"])

    with pytest.raises(OnnxCheckError, match=r"output pooled: (shape unknown|axis 0 has no)"):
        check_graph(path)


def test_a_file_the_checker_refuses_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"not a model")

    with pytest.raises(OnnxCheckError, match="the ONNX checker refuses it"):
        check_graph(path)


def test_metadata_is_recorded_in_place_replacing_same_keys(tmp_path: Path) -> None:
    path = _save(tmp_path, _pool(), "batch", ["batch", 3, 1, 1])

    record_metadata(path, {OPSET_KEY: "16", "other": "x"})
    record_metadata(path, {OPSET_KEY: "17"})

    assert metadata(path) == {"other": "x", OPSET_KEY: "17"}
    check_graph(path)
