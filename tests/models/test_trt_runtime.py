"""The runner's binding logic, on stand-ins shaped like TensorRT 10's engine and module.

The runner itself (pycuda buffers, `execute_async_v3`) needs a GPU: `tests/edge/detectors/
test_trt.py` runs it (marked gpu).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from models.engines import EngineManifest
from models.errors import ModelError
from models.trt_runtime import (
    TensorBinding,
    check_batch,
    check_bindings,
    engine_bindings,
    resolve_shape,
)
from tests.models.engine_fixtures import fake_engine

# `trt.TensorIOMode` and `trt.nptype` as the tensorrt module has them; dtypes stand for
# `trt.DataType` members.
TRT = SimpleNamespace(
    TensorIOMode=SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT"),
    nptype={"FLOAT": np.float32, "HALF": np.float16, "INT32": np.int32}.__getitem__,
)


@dataclass
class StandInEngine:
    """`trt.ICudaEngine`'s named-tensor API: (name, mode, dtype, shape) per I/O tensor."""

    tensors: list[tuple[str, str, str, tuple[int, ...]]]

    @property
    def num_io_tensors(self) -> int:
        return len(self.tensors)

    def get_tensor_name(self, index: int) -> str:
        return self.tensors[index][0]

    def _tensor(self, name: str) -> tuple[str, str, str, tuple[int, ...]]:
        return next(t for t in self.tensors if t[0] == name)

    def get_tensor_mode(self, name: str) -> str:
        return self._tensor(name)[1]

    def get_tensor_dtype(self, name: str) -> str:
        return self._tensor(name)[2]

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self._tensor(name)[3]


NANODET = StandInEngine(
    [
        ("input_1:0", "INPUT", "FLOAT", (-1, 3, 416, 416)),
        ("scores_stride8", "OUTPUT", "FLOAT", (-1, 2704, 80)),
        ("box_logits_stride8", "OUTPUT", "HALF", (-1, 2704, 44)),
    ]
)


@pytest.fixture
def manifest(tmp_path: Path) -> EngineManifest:
    return fake_engine(tmp_path, max_batch=4)[1]


def test_it_lists_inputs_and_outputs_with_numpy_dtypes_in_engine_order() -> None:
    bindings = engine_bindings(TRT, NANODET)

    assert [(b.name, b.is_input, b.dtype) for b in bindings] == [
        ("input_1:0", True, np.dtype(np.float32)),
        ("scores_stride8", False, np.dtype(np.float32)),
        ("box_logits_stride8", False, np.dtype(np.float16)),
    ]
    assert bindings[0].dynamic


def test_buffers_are_sized_for_max_batch_by_dtype() -> None:
    inputs, scores, logits = engine_bindings(TRT, NANODET)

    assert inputs.nbytes(4) == 4 * 3 * 416 * 416 * 4
    assert scores.nbytes(4) == 4 * 2704 * 80 * 4
    assert logits.nbytes(4) == 4 * 2704 * 44 * 2  # half precision


def test_a_dynamic_batch_resolves_and_a_fixed_shape_stays() -> None:
    assert resolve_shape((-1, 2704, 80), 3) == (3, 2704, 80)
    assert resolve_shape((1, 2704, 80), 3) == (1, 2704, 80)


def test_a_dynamic_axis_other_than_the_batch_cannot_be_sized() -> None:
    with pytest.raises(ModelError, match="only the batch axis"):
        resolve_shape((-1, -1, 80), 1)


def test_bindings_matching_the_manifest_give_the_input_and_the_outputs(
    manifest: EngineManifest,
) -> None:
    tensor, outputs = check_bindings(engine_bindings(TRT, NANODET), manifest)

    assert tensor.name == "input_1:0"
    assert [b.name for b in outputs] == ["scores_stride8", "box_logits_stride8"]


INPUT = ("input_1:0", "INPUT", "FLOAT", (-1, 3, 416, 416))


@pytest.mark.parametrize(
    ("tensors", "message"),
    [
        ([("images", *INPUT[1:])], "input images, the manifest records input_1:0"),
        ([(*INPUT[:3], (-1, 3, 320, 320))], r"input shape \[-1, 3, 320, 320\]"),
        ([(*INPUT[:3], (1, 3, 416, 416))], "fixed batch 1, the manifest records 4"),
        ([(*INPUT[:2], "HALF", INPUT[3])], "input dtype float16"),
        ([INPUT, ("mask", "INPUT", "FLOAT", (1,))], "2 inputs"),
        ([INPUT, ("nms", "OUTPUT", "FLOAT", (-1, -1, 6))], r"output nms \[-1, -1, 6\]"),
    ],
    ids=["input name", "input size", "fixed batch", "input dtype", "two inputs", "dynamic output"],
)
def test_bindings_that_differ_from_the_manifest_are_refused(
    manifest: EngineManifest, tensors: list[Any], message: str
) -> None:
    engine = StandInEngine([*tensors, ("scores", "OUTPUT", "FLOAT", (-1, 10))])

    with pytest.raises(ModelError, match=message):
        check_bindings(engine_bindings(TRT, engine), manifest)


def test_an_engine_without_outputs_is_refused(manifest: EngineManifest) -> None:
    engine = StandInEngine([NANODET.tensors[0]])

    with pytest.raises(ModelError, match="no outputs"):
        check_bindings(engine_bindings(TRT, engine), manifest)


def test_batches_of_one_to_max_batch_pass() -> None:
    for count in (1, 4):
        check_batch(np.zeros((count, 3, 8, 8), np.float32), (3, 8, 8), 4)


@pytest.mark.parametrize(
    "batch",
    [
        np.zeros((5, 3, 8, 8), np.float32),
        np.zeros((0, 3, 8, 8), np.float32),
        np.zeros((1, 3, 8, 9), np.float32),
        np.zeros((3, 8, 8), np.float32),
        np.zeros((1, 3, 8, 8), np.float64),
        np.zeros((1, 8, 8, 3), np.float32).transpose(0, 3, 1, 2),
    ],
    ids=["too many", "empty", "other size", "no batch axis", "float64", "not contiguous"],
)
def test_other_batches_are_refused(batch: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"expected|contiguous"):
        check_batch(batch, (3, 8, 8), 4)


def test_a_binding_knows_whether_its_batch_is_dynamic() -> None:
    assert not TensorBinding("x", True, np.dtype(np.float32), (1, 3, 8, 8)).dynamic
