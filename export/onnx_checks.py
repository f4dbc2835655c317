"""Static checks of an exported ONNX file, and the metadata recorded in it.

Public surface: `check_graph` (the ONNX checker, then shape inference: every input's and
output's shape must be fully known, with a symbolic batch axis), `GraphReport`, `TensorInfo`,
`record_metadata`, `metadata` and `OnnxCheckError`.

Why a symbolic batch axis: TensorRT builds one optimisation profile over it (`max_batch`) and the
cloud embedder pads runs to powers of two; a graph traced with the batch size baked in would
run on one batch size only, and that surfaces on the device, not here.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import shape_inference
from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(extra="forbid", frozen=True)

OPSET_KEY = "sightline.opset"
"""metadata_props key of the default-domain opset the file was exported with."""


# What ONNX shape inference names a dimension it could not work out (unk__0, unk__1, ...): a
# symbol of its own making, tied to nothing, so as unknown as no symbol at all.
_UNKNOWN_SYMBOL = "unk__"


class OnnxCheckError(ValueError):
    """The file fails a check; the message lists every problem found."""


class TensorInfo(BaseModel):
    """One graph input or output as shape inference sees it."""

    model_config = _FROZEN

    name: str = Field(description="ONNX value name")
    shape: tuple[int | str, ...] = Field(description="dimensions; a string is a symbolic one")


class GraphReport(BaseModel):
    """What the checks found: the opset and the graph's interface."""

    model_config = _FROZEN

    opset: int = Field(description="default-domain (ai.onnx) opset imported by the model")
    inputs: tuple[TensorInfo, ...] = Field(description="graph inputs (initializers excluded)")
    outputs: tuple[TensorInfo, ...] = Field(description="graph outputs, shapes inferred")


def default_opset(model: onnx.ModelProto) -> int:
    """The model's ai.onnx opset; `OnnxCheckError` when it imports none."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise OnnxCheckError("the model imports no ai.onnx opset")


def _shape(value: onnx.ValueInfoProto) -> tuple[tuple[int | str, ...] | None, list[str]]:
    """The value's dimensions, or None with the problems when its shape is not fully known."""
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor.HasField("shape"):
        return None, [f"{value.name}: shape unknown (not even its rank)"]
    dims: list[int | str] = []
    problems = []
    for axis, dim in enumerate(tensor.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        elif dim.dim_param and not dim.dim_param.startswith(_UNKNOWN_SYMBOL):
            dims.append(dim.dim_param)
        else:
            problems.append(f"{value.name}: axis {axis} has no known size or symbol")
    return (tuple(dims), problems) if not problems else (None, problems)


def _inputs(model: onnx.ModelProto, problems: list[str]) -> tuple[TensorInfo, ...]:
    """The graph inputs (initializers excluded), each with a symbolic batch axis."""
    weights = {init.name for init in model.graph.initializer}
    infos = []
    for value in model.graph.input:
        if value.name in weights:
            continue
        shape, found = _shape(value)
        problems += [f"input {problem}" for problem in found]
        if shape is None:
            continue
        if not shape or not isinstance(shape[0], str):
            problems.append(
                f"input {value.name}: batch axis is {shape[0] if shape else 'missing'}, "
                "not symbolic (export with a dynamic batch axis)"
            )
        infos.append(TensorInfo(name=value.name, shape=shape))
    return tuple(infos)


def _inferred_outputs(model: onnx.ModelProto, batch: int) -> list[onnx.ValueInfoProto]:
    """The outputs as strict shape inference finds them for inputs of batch size `batch`,
    declared output shapes cleared first (so that a merely declared shape counts for nothing).

    Inferring at two concrete batch sizes, rather than once with the symbol, lets ONNX's
    data propagation work out shapes that are computed in the graph (a flatten's
    Shape-Gather-Concat-Reshape), which it cannot do in symbols.
    """
    pinned = onnx.ModelProto()
    pinned.CopyFrom(model)
    weights = {init.name for init in pinned.graph.initializer}
    for value in pinned.graph.input:
        dims = value.type.tensor_type.shape.dim
        if value.name not in weights and dims:
            dims[0].Clear()
            dims[0].dim_value = batch
    for output in pinned.graph.output:
        output.type.tensor_type.ClearField("shape")
    inferred = shape_inference.infer_shapes(pinned, strict_mode=True, data_prop=True)
    return list(inferred.graph.output)


def _outputs(
    model: onnx.ModelProto, batch_symbol: str, problems: list[str]
) -> tuple[TensorInfo, ...]:
    """Each output's shape: a batch axis that follows the input's, every other axis fixed."""
    infos = []
    runs = zip(_inferred_outputs(model, 2), _inferred_outputs(model, 3), strict=True)
    for two, three in runs:
        shape_two, found = _shape(two)
        shape_three, found_three = _shape(three)
        problems += [f"output {problem}" for problem in found or found_three]
        if shape_two is None or shape_three is None:
            continue
        if not shape_two or (shape_two[0], shape_three[0]) != (2, 3):
            sizes = f"{shape_two[0]} and {shape_three[0]}" if shape_two else "missing"
            problems.append(
                f"output {two.name}: batch axis does not follow the input's ({sizes} for "
                "batches of 2 and 3; export with a dynamic batch axis and no batch size in the "
                "code)"
            )
            continue
        moving = [axis for axis in range(1, len(shape_two)) if shape_two[axis] != shape_three[axis]]
        if moving:
            problems.append(f"output {two.name}: axes {moving} change with the batch size")
            continue
        infos.append(TensorInfo(name=two.name, shape=(batch_symbol, *shape_two[1:])))
    return tuple(infos)


def check_graph(path: Path) -> GraphReport:
    """Run the ONNX checker (full check) and strict shape inference on the file at `path`.

    Raises `OnnxCheckError` listing every problem: checker or inference failure, an input or
    output whose rank or any axis is unknown, an input whose batch axis (axis 0) is a number
    instead of a symbol, or an output whose batch axis does not follow the input's or whose
    other axes do not stay fixed.
    """
    try:
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path))
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, OSError) as err:
        raise OnnxCheckError(f"{path}: the ONNX checker refuses it: {err}") from err
    problems: list[str] = []
    inputs = _inputs(model, problems)
    if not inputs and not problems:
        problems.append("the graph has no input")
    if problems:
        raise OnnxCheckError(f"{path}: " + "; ".join(problems))
    try:
        outputs = _outputs(model, str(inputs[0].shape[0]), problems)
    except onnx.shape_inference.InferenceError as err:
        raise OnnxCheckError(f"{path}: shape inference fails: {err}") from err
    if problems:
        raise OnnxCheckError(f"{path}: " + "; ".join(problems))
    return GraphReport(opset=default_opset(model), inputs=inputs, outputs=outputs)


def record_metadata(path: Path, properties: dict[str, str]) -> None:
    """Set `properties` in the file's metadata_props (replacing same-named ones), in place."""
    model = onnx.load(str(path))
    kept = [prop for prop in model.metadata_props if prop.key not in properties]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in properties.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def metadata(path: Path) -> dict[str, str]:
    """The file's metadata_props as a dict."""
    return {prop.key: prop.value for prop in onnx.load(str(path)).metadata_props}
