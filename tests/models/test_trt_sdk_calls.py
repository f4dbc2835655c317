"""`build_engine`, `current_target` and `TrtRunner` run against stand-ins of the `tensorrt` and
`pycuda.driver` modules (`tests/models/trt_standins.py`): the SDK calls in the order and shape
the real modules take them, the files written, the buffers copied for each batch size.

What only real hardware shows (kernels, timings, FP16 accuracy) is the `gpu` test in
`tests/edge/detectors/test_trt.py`.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.engines import check_engine, engine_paths, read_manifest
from models.errors import ModelError
from models.trt_engine import build_engine, current_target
from models.trt_runtime import TrtRunner
from tests.models import trt_standins
from tests.models.engine_fixtures import fake_engine, model_bytes


@pytest.fixture(autouse=True)
def sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    package, driver = trt_standins.pycuda_modules()
    monkeypatch.setitem(sys.modules, "tensorrt", trt_standins.tensorrt_module())
    monkeypatch.setitem(sys.modules, "pycuda", package)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    monkeypatch.setattr(trt_standins, "BUILD", trt_standins.BuildScript())
    trt_standins.Device.context = trt_standins.PrimaryContext()
    yield


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(model_bytes(("", 17)))
    return path


def test_the_target_is_the_tensorrt_version_and_the_first_device() -> None:
    target = current_target()

    assert (target.tensorrt_version, target.device_name, target.compute_capability) == (
        "10.3.0", "Orin", "8.7",
    )  # fmt: skip


def test_a_build_writes_the_engine_and_a_manifest_that_checks(
    tmp_path: Path, onnx_file: Path
) -> None:
    reports: list[tuple[str, float]] = []

    engine_path, manifest = build_engine(
        onnx_file, tmp_path / "cache", model_name="m", precision="fp16", max_batch=4,
        progress=lambda step, fraction: reports.append((step, fraction)), workspace_bytes=1 << 28,
    )  # fmt: skip

    assert engine_path.read_bytes() == b"engine bytes"
    assert read_manifest(engine_paths(engine_path.parent, engine_path.stem)[1]) == manifest
    assert manifest.model_sha256 == hashlib.sha256(onnx_file.read_bytes()).hexdigest()
    assert (manifest.opset, manifest.input_name, manifest.input_shape) == (
        17,
        "input_1:0",
        (3, 4, 4),
    )
    assert (manifest.max_batch, manifest.precision, manifest.target.device_name) == (
        4,
        "fp16",
        "Orin",
    )
    check_engine(engine_path, manifest, model_sha256=manifest.model_sha256, target=current_target())
    config = trt_standins.BUILD.config
    assert config is not None
    assert config.flags == ["FP16"]
    assert config.pools == {"WORKSPACE": 1 << 28}
    assert config.profiles == [{"input_1:0": ((1, 3, 4, 4), (4, 3, 4, 4), (4, 3, 4, 4))}]
    assert reports == [("Building engine", 0.0), ("Building engine", 0.5), ("Building engine", 1.0)]


def test_an_int8_build_uses_the_calibrator_on_the_profile(tmp_path: Path, onnx_file: Path) -> None:
    calibrator = object()

    build_engine(
        onnx_file, tmp_path, model_name="m", precision="int8", max_batch=2, calibrator=calibrator
    )

    config = trt_standins.BUILD.config
    assert config is not None
    assert config.flags == ["INT8", "FP16"]
    assert config.int8_calibrator is calibrator
    assert config.calibration_profile == config.profiles[0]


def test_a_model_tensorrt_cannot_parse_or_build_is_a_model_error(
    tmp_path: Path, onnx_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trt_standins.BUILD.engine = None
    with pytest.raises(ModelError, match="could not build a fp32 engine"):
        build_engine(onnx_file, tmp_path, model_name="m", precision="fp32", max_batch=1)
    assert list(tmp_path.glob("*.engine*")) == []

    monkeypatch.setattr(trt_standins.OnnxParser, "errors", ("Unsupported op: NonMaxSuppression",))
    with pytest.raises(ModelError, match=r"cannot parse .*Unsupported op: NonMaxSuppression"):
        build_engine(onnx_file, tmp_path, model_name="m", precision="fp32", max_batch=1)


def runner_for(tmp_path: Path, max_batch: int = 4) -> TrtRunner:
    engine, manifest = fake_engine(
        tmp_path, engine=b"engine serialised", max_batch=max_batch, input_shape=(3, 4, 4)
    )
    return TrtRunner(engine, manifest)


def test_the_runner_copies_each_batch_in_and_its_outputs_out(tmp_path: Path) -> None:
    runner = runner_for(tmp_path)
    rng = np.random.default_rng(0)

    for count in (1, 4, 2):
        batch = rng.random((count, 3, 4, 4), dtype=np.float32)
        outputs = runner.run(batch)

        assert set(outputs) == {"sums", "maxima"} == set(runner.output_names)
        np.testing.assert_allclose(outputs["sums"], batch.sum(axis=(2, 3)), rtol=1e-6)
        np.testing.assert_allclose(outputs["maxima"], batch.max(axis=(1, 2, 3))[:, None])
    (engine,) = trt_standins.Runtime.engines[-1:]
    (context,) = engine.contexts
    assert context.executions == 3 and context.input_shape == (2, 3, 4, 4)


def test_outputs_are_copies_that_the_next_run_does_not_overwrite(tmp_path: Path) -> None:
    runner = runner_for(tmp_path)

    first = runner.run(np.ones((1, 3, 4, 4), np.float32))
    runner.run(np.zeros((1, 3, 4, 4), np.float32))

    assert first["maxima"][0, 0] == 1.0


def test_the_runner_refuses_other_batches_and_an_engine_changed_since_its_check(
    tmp_path: Path,
) -> None:
    runner = runner_for(tmp_path, max_batch=2)
    with pytest.raises(ValueError, match="expected"):
        runner.run(np.zeros((3, 3, 4, 4), np.float32))

    engine, manifest = fake_engine(tmp_path / "other", engine=b"engine serialised")
    engine.write_bytes(b"engine swapped after check_engine")
    with pytest.raises(ModelError, match="changed since it was checked"):
        TrtRunner(engine, manifest)


def test_bytes_tensorrt_cannot_deserialise_are_a_model_error(tmp_path: Path) -> None:
    engine, manifest = fake_engine(tmp_path, engine=b"not an engine", input_shape=(3, 4, 4))

    with pytest.raises(ModelError, match="cannot deserialise"):
        TrtRunner(engine, manifest)


def test_close_frees_the_buffers_and_releases_the_context(tmp_path: Path) -> None:
    runner = runner_for(tmp_path)
    buffers = list(runner._device.values())

    runner.close()

    assert buffers and all(buffer.freed for buffer in buffers)
    assert trt_standins.Device.context.detached
