"""The pure parts of the engine builder: profile shapes, flags, progress, the ONNX opset.

The build itself needs TensorRT and a GPU: `tests/edge/detectors/test_trt.py` runs it (marked gpu).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import onnx
import pytest

from models.errors import ModelError, RuntimeUnavailableError
from models.trt_engine import BuildProgress, build_engine, builder_flags, onnx_opset, profile_shapes
from tests.models.engine_fixtures import model_bytes


def test_a_dynamic_batch_gets_a_profile_from_one_to_max_batch() -> None:
    assert profile_shapes("x", (-1, 3, 416, 416), 4) == (
        (1, 3, 416, 416),
        (4, 3, 416, 416),
        (4, 3, 416, 416),
    )


def test_a_fixed_batch_needs_no_profile_when_it_is_max_batch() -> None:
    assert profile_shapes("x", (1, 3, 416, 416), 1) is None


def test_a_fixed_batch_cannot_serve_a_larger_max_batch() -> None:
    with pytest.raises(ModelError, match="fixed batch of 1, so max_batch must be 1, not 8"):
        profile_shapes("x", (1, 3, 416, 416), 8)


@pytest.mark.parametrize("dims", [(-1, 3, -1, -1), (1, 3, 416), (-1, 3, 416, 416, 1)])
def test_only_nchw_with_a_dynamic_batch_at_most_is_supported(dims: tuple[int, ...]) -> None:
    with pytest.raises(ModelError, match="only NCHW inputs"):
        profile_shapes("x", dims, 1)


def test_builder_flags_by_precision() -> None:
    assert builder_flags("fp32") == ()
    assert builder_flags("fp16") == ("FP16",)
    assert builder_flags("int8") == ("INT8", "FP16")


def test_progress_reports_phase_starts_finishes_and_tenths_only() -> None:
    reports: list[tuple[str, float]] = []
    progress = BuildProgress(lambda step, fraction: reports.append((step, fraction)))

    progress.phase_start("Building engine", None, 3)
    progress.phase_start("Tactic selection", "Building engine", 1000)
    assert all(progress.step_complete("Tactic selection", step) for step in range(1000))
    progress.phase_finish("Tactic selection")
    assert progress.step_complete("Building engine", 1)
    progress.phase_finish("Building engine")

    tactics = [f for step, f in reports if step == "Building engine / Tactic selection"]
    assert tactics[0] == 0.0 and tactics[-1] == 1.0
    assert len(tactics) == 11  # 0.0, 0.1 .. 0.9, 1.0: not one line per tactic
    assert [f for step, f in reports if step == "Building engine"] == [0.0, 0.3, 1.0]


def test_progress_ignores_steps_of_unknown_phases() -> None:
    reports: list[tuple[str, float]] = []
    progress = BuildProgress(lambda step, fraction: reports.append((step, fraction)))

    assert progress.step_complete("never started", 5)
    progress.phase_finish("never started")

    assert reports == []


def test_it_reads_the_default_domain_opset_from_the_wire_format() -> None:
    data = model_bytes(("com.microsoft", 1), ("", 17))

    assert onnx_opset(data) == 17
    assert onnx.load_from_string(data).opset_import[1].version == 17  # what onnx itself reads


def test_the_ai_onnx_domain_name_counts_as_default() -> None:
    assert onnx_opset(model_bytes(("ai.onnx", 13))) == 13


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (model_bytes(("com.microsoft", 1)), "no default-domain opset"),
        (b"\xff\xff\xff", "not an ONNX model"),
        (model_bytes(("", 17))[:-3], "not an ONNX model"),
    ],
    ids=["other domain only", "garbage", "truncated"],
)
def test_a_file_without_an_opset_is_a_model_error(data: bytes, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        onnx_opset(data)


def test_int8_without_a_calibrator_is_refused_before_anything_is_imported(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="needs a calibrator"):
        build_engine(tmp_path / "m.onnx", tmp_path, model_name="m", precision="int8", max_batch=1)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here"
)
def test_without_tensorrt_the_build_says_which_image_has_it(tmp_path: Path) -> None:
    with pytest.raises(RuntimeUnavailableError, match="edge-jetson or edge-cuda image"):
        build_engine(tmp_path / "m.onnx", tmp_path, model_name="m", precision="fp16", max_batch=1)
