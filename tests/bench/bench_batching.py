"""Can NanoDet-g run several cameras' frames in one call, and does that help on this CPU?

    nice -n 10 uv run python -m tests.bench.bench_batching [--frames 8] [--seconds 4]

The model file's input is fixed at batch 1 ([1, 3, 416, 416]). This makes the batch axis
symbolic in a copy (in a temporary folder; the cached, sha256-checked model is not changed): its
four bilinear `Resize` nodes get scales instead of sizes (which pinned batch 1) and its six
`Reshape` nodes copy the batch dimension (0) instead of a literal 1. It then checks that ONNX
Runtime's outputs for a batch of real `vtest.avi` frames match the fixed model's, frame by frame
(largest absolute difference; 1e-4 is the bar), and times ms per frame at batch 1, 2, 4 and 8
against the fixed model at batch 1, in turns, with the agent's session options (2 intra-op
threads, no spinning). Not a pytest test; prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper, shape_inference

from edge.detectors.base import ModelSettings
from edge.detectors.model import load_model_spec
from edge.detectors.preprocess import Preprocessor
from tests.bench.bench_cameras import MANIFEST, decoded
from tests.bench.measure import load_average, machine_facts, report
from tests.footage.clips import VTEST, source

BATCHES = (1, 2, 4, 8)


def dynamic_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose batch axis is symbolic (see the module docstring)."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {
        info.name: [dim.dim_value for dim in info.type.tensor_type.shape.dim]
        for info in inferred.graph.value_info
    }
    result = onnx.ModelProto()
    result.CopyFrom(model)
    initializers = {tensor.name: tensor for tensor in result.graph.initializer}
    for node in result.graph.node:
        if node.op_type == "Resize":
            sizes = numpy_helper.to_array(initializers[node.input[3]])
            scales = (sizes / np.asarray(shapes[node.input[0]])).astype(np.float32)
            name = f"{node.name}/scales"
            result.graph.initializer.append(numpy_helper.from_array(scales, name))
            node.input[2] = name
            del node.input[3]
        elif node.op_type == "Reshape":
            target = initializers[node.input[1]]
            shape = numpy_helper.to_array(target).copy()
            shape[0] = 0  # copy the input's batch dimension
            target.CopyFrom(numpy_helper.from_array(shape, target.name))
    for value in (*result.graph.input, *result.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del result.graph.value_info[:]
    onnx.checker.check_model(result)
    return result


def session(path: Path) -> Any:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def ms_per_frame(run: Any, name: str, batch: np.ndarray, seconds: float) -> float:
    run(None, {name: batch})
    started, frames = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        run(None, {name: batch})
        frames += len(batch)
    return 1000 * (time.perf_counter() - started) / frames


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    load_before = load_average()
    spec = load_model_spec(ModelSettings(manifest=MANIFEST))
    preprocess = Preprocessor(spec)
    images = decoded(source(VTEST), args.frames * 5)[::5]
    tensors = np.concatenate([preprocess(image)[0].copy() for image in images])
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "dynamic.onnx"
        onnx.save(dynamic_batch(onnx.load(str(spec.path))), str(path))
        fixed, dynamic = session(spec.path), session(path)
        name = spec.input_name
        single = [fixed.run(None, {name: tensors[i : i + 1]}) for i in range(len(tensors))]
        batched = dynamic.run(None, {name: tensors})
        difference = max(
            float(np.abs(output - np.concatenate([one[k] for one in single])).max())
            for k, output in enumerate(batched)
        )
        timings: dict[str, list[float]] = {"fixed_1": []}
        timings.update({f"dynamic_{b}": [] for b in BATCHES})
        for _ in range(args.rounds):
            timings["fixed_1"].append(ms_per_frame(fixed.run, name, tensors[:1], args.seconds))
            for b in BATCHES:
                timings[f"dynamic_{b}"].append(
                    ms_per_frame(dynamic.run, name, tensors[:b], args.seconds)
                )
    return {
        "frames": len(tensors),
        "max_abs_difference": difference,
        "ms_per_frame_best": {key: round(min(values), 1) for key, values in timings.items()},
        "machine": {**machine_facts(), "load_before": load_before, "load_after": load_average()},
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"load before {result['machine']['load_before']}, after {result['machine']['load_after']}",
        f"batch of {result['frames']} real frames vs one at a time: largest difference "
        f"{result['max_abs_difference']:.2e}",
    ]
    lines += [f"{key:<12}{ms:>8.1f} ms/frame" for key, ms in result["ms_per_frame_best"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=8, help="real frames in the checked batch")
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per leg and round")
    parser.add_argument("--rounds", type=int, default=2, help="turns of every leg")
    return report(benchmark, render, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
