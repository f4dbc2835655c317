"""The `trt` detector: engine cache, checks and the pre/post-processing it shares with `ort`.

TensorRT cannot run here, so most tests give the detector an `EngineRuntime` stand-in: its
"engine" file holds the ONNX bytes and its runner runs them on ONNX Runtime, with the shape of
`models.trt_runtime.TrtRunner`. Everything else is the detector's own code: the cache key and
paths, the manifest written and read, `check_engine` on every load, the interface check, the
preprocessing and the decode.

`test_a_real_engine_finds_what_ort_finds_on_real_frames` is marked `gpu`: it builds a real FP16
engine. Run it on a machine with an NVIDIA GPU, TensorRT 10 and pycuda (the edge-cuda image, or
a Jetson with the edge-jetson image), with the model built and opencv-doc installed:

    uv run python -m models build nanodet-g
    uv run pytest -m gpu tests/edge/detectors/test_trt.py
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from pydantic import TypeAdapter, ValidationError

from edge.detectors.base import ModelSettings
from edge.detectors.ort import OrtDetector
from edge.detectors.preprocess import Preprocessor
from edge.detectors.registry import DetectorConfig, create_detector
from edge.detectors.trt import EngineRuntime, TrtDetector, TrtSettings
from edge.errors import BackendUnavailable
from models.detection import FloatArray, RawDetections
from models.engines import (
    EngineManifest,
    EngineTarget,
    Precision,
    engine_cache_key,
    engine_paths,
    write_atomic,
    write_manifest,
)
from models.errors import ModelError
from models.trt_engine import Progress, onnx_opset
from tests.edge.nanodet import (
    MANIFEST,
    built_model,
    clip_frames,
    detector_settings,
    tampered_copy,
)
from tests.models.engine_fixtures import ORIN


class OrtEngineRunner:
    """`TrtRunner`'s shape, running the stand-in engine (ONNX bytes) on ONNX Runtime."""

    def __init__(self, engine_path: Path, manifest: EngineManifest) -> None:
        self._session = onnxruntime.InferenceSession(
            engine_path.read_bytes(), providers=["CPUExecutionProvider"]
        )
        self.input_shape = manifest.input_shape
        self.max_batch = manifest.max_batch
        self.output_names = tuple(o.name for o in self._session.get_outputs())
        self._input = manifest.input_name
        self.closed = False

    def run(self, batch: FloatArray) -> dict[str, FloatArray]:
        outputs = self._session.run(list(self.output_names), {self._input: batch})
        return dict(zip(self.output_names, outputs, strict=True))

    def close(self) -> None:
        self.closed = True


class StandInTensorRT:
    """`target`, `build` and `open` as `edge.detectors.trt.TENSORRT` has them, on the CPU."""

    def __init__(self, target: EngineTarget = ORIN) -> None:
        self.target = target
        self.builds: list[Path] = []
        self.runners: list[OrtEngineRunner] = []

    def build(
        self,
        onnx_path: Path,
        cache_dir: Path,
        *,
        model_name: str,
        precision: Precision,
        max_batch: int,
        progress: Progress | None = None,
        workspace_bytes: int = 1 << 30,
    ) -> tuple[Path, EngineManifest]:
        self.builds.append(onnx_path)
        data = onnx_path.read_bytes()
        model_sha256 = hashlib.sha256(data).hexdigest()
        engine_path, manifest_path = engine_paths(
            cache_dir, engine_cache_key(model_sha256, self.target, precision, max_batch)
        )
        write_atomic(engine_path, data)
        manifest = EngineManifest(
            model_sha256=model_sha256,
            model_name=model_name,
            opset=onnx_opset(data),
            input_name="input_1:0",
            input_shape=(3, 416, 416),
            max_batch=max_batch,
            precision=precision,
            target=self.target,
            engine_sha256=hashlib.sha256(data).hexdigest(),
            built_at=datetime.now(UTC),
            build_seconds=0.0,
        )
        write_manifest(manifest_path, manifest)
        if progress is not None:
            progress("Building engine", 1.0)
        return engine_path, manifest

    def open(self, engine_path: Path, manifest: EngineManifest) -> OrtEngineRunner:
        runner = OrtEngineRunner(engine_path, manifest)
        self.runners.append(runner)
        return runner

    def runtime(self) -> EngineRuntime:
        return EngineRuntime(target=lambda: self.target, build=self.build, open=self.open)


def trt_settings(cache: Path, **overrides: Any) -> TrtSettings:
    built_model()
    return TrtSettings.model_validate(
        {"model": ModelSettings(manifest=MANIFEST), "engine_cache": cache, **overrides}
    )


@pytest.fixture
def tensorrt() -> StandInTensorRT:
    return StandInTensorRT()


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return clip_frames(3)


def assert_same(left: RawDetections, right: RawDetections) -> None:
    np.testing.assert_array_equal(left.boxes, right.boxes)
    np.testing.assert_array_equal(left.scores, right.scores)
    np.testing.assert_array_equal(left.class_ids, right.class_ids)


def test_the_trt_detector_shares_the_ort_path_frame_for_frame(
    tmp_path: Path, tensorrt: StandInTensorRT, frames: list[np.ndarray]
) -> None:
    ort = OrtDetector(detector_settings(threads=1))
    trt = TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())

    found = 0
    for frame in frames:
        tensor, _ = Preprocessor(trt.spec)(frame)
        expected = ort.detect(Preprocessor(ort.spec)(frame)[0])
        assert_same(trt.detect(tensor), expected)
        found += len(expected)
    assert found > 0
    assert trt.spec == ort.spec


def test_the_first_start_builds_with_progress_and_the_next_loads_the_cache(
    tmp_path: Path, tensorrt: StandInTensorRT, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.detectors.trt")

    TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime()).close()
    TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime()).close()

    assert tensorrt.builds == [built_model()]
    assert [r.closed for r in tensorrt.runners] == [True, True]
    assert "engine build: Building engine 100%" in caplog.text
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".engine", ".json"]


def test_another_tensorrt_version_builds_its_own_engine(
    tmp_path: Path, tensorrt: StandInTensorRT
) -> None:
    TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())
    tensorrt.target = ORIN.model_copy(update={"tensorrt_version": "10.7.0"})

    TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())

    assert len(tensorrt.builds) == 2
    assert len(list(tmp_path.glob("*.engine"))) == 2


def only_engine(cache: Path) -> Path:
    (engine,) = cache.glob("*.engine")
    return engine


def test_a_tampered_cached_engine_is_refused_not_rebuilt(
    tmp_path: Path, tensorrt: StandInTensorRT
) -> None:
    TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())
    engine = only_engine(tmp_path)
    data = bytearray(engine.read_bytes())
    data[len(data) // 2] ^= 0x01
    engine.write_bytes(bytes(data))

    with pytest.raises(ModelError, match="altered or corrupted"):
        TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())
    assert len(tensorrt.builds) == 1


def test_an_engine_copied_in_from_another_device_is_refused(
    tmp_path: Path, tensorrt: StandInTensorRT
) -> None:
    """A manifest under this device's key that records another GPU (a copied cache)."""
    TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())
    manifest_path = next(tmp_path.glob("*.engine.json"))
    manifest = EngineManifest.model_validate_json(manifest_path.read_bytes())
    xavier = manifest.target.model_copy(update={"device_name": "Xavier"})
    write_manifest(manifest_path, manifest.model_copy(update={"target": xavier}))

    with pytest.raises(ModelError, match="built for device Xavier, this is Orin"):
        TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())


def test_an_engine_with_other_settings_under_the_key_is_refused(
    tmp_path: Path, tensorrt: StandInTensorRT
) -> None:
    TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())
    manifest_path = next(tmp_path.glob("*.engine.json"))
    manifest = EngineManifest.model_validate_json(manifest_path.read_bytes())
    write_manifest(manifest_path, manifest.model_copy(update={"precision": "fp32"}))

    with pytest.raises(ModelError, match="is fp32 with max_batch 1, not the configured fp16"):
        TrtDetector(trt_settings(tmp_path), runtime=tensorrt.runtime())


def test_a_tampered_model_is_refused_before_minutes_of_building(
    tmp_path: Path, tensorrt: StandInTensorRT
) -> None:
    settings = trt_settings(tmp_path / "engines").model_copy(
        update={"model": ModelSettings(manifest=tampered_copy(tmp_path))}
    )

    with pytest.raises(ModelError, match="altered or corrupted"):
        TrtDetector(settings, runtime=tensorrt.runtime())
    assert tensorrt.builds == []


def test_an_engine_without_the_nanodet_outputs_is_refused(
    tmp_path: Path, tensorrt: StandInTensorRT
) -> None:
    class Truncated(OrtEngineRunner):
        def __init__(self, engine_path: Path, manifest: EngineManifest) -> None:
            super().__init__(engine_path, manifest)
            self.output_names = self.output_names[:2]

    runtime = EngineRuntime(target=lambda: ORIN, build=tensorrt.build, open=Truncated)

    with pytest.raises(ModelError, match="detectors decode NanoDet outputs"):
        TrtDetector(trt_settings(tmp_path), runtime=runtime)


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here"
)
def test_without_tensorrt_the_backend_is_unavailable_and_says_which_image(
    tmp_path: Path,
) -> None:
    with pytest.raises(BackendUnavailable, match=r"detector type trt: .*edge-jetson or edge-cuda"):
        create_detector(trt_settings(tmp_path))


def test_the_config_tells_backends_apart_by_type_and_forbids_foreign_keys() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(DetectorConfig)
    model = {"manifest": "models/nanodet-g.toml"}

    settings = adapter.validate_python({"type": "trt", "model": model, "precision": "fp32"})
    assert isinstance(settings, TrtSettings)
    assert (settings.precision, settings.max_batch, settings.engine_cache) == ("fp32", 1, None)
    with pytest.raises(ValidationError, match="intra_op_threads"):
        adapter.validate_python({"type": "trt", "model": model, "intra_op_threads": 2})
    with pytest.raises(ValidationError, match="precision"):
        adapter.validate_python({"type": "trt", "model": model, "precision": "int8"})


def iou(a: FloatArray, b: FloatArray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@pytest.fixture
def real_trt(tmp_path: Path) -> Iterator[TrtDetector]:
    started = time.perf_counter()
    detector = TrtDetector(trt_settings(tmp_path))
    print(f"engine built and loaded in {time.perf_counter() - started:.1f}s")
    yield detector
    detector.close()


@pytest.mark.gpu
def test_a_real_engine_finds_what_ort_finds_on_real_frames(
    real_trt: TrtDetector, frames: list[np.ndarray]
) -> None:
    """FP16 against ONNX Runtime's FP32: every confident ORT detection (score >= 0.4) has a
    TensorRT one of the same class overlapping it at IoU >= 0.9 with a score within 0.05."""
    ort = OrtDetector(detector_settings(threads=1))
    for frame in frames:
        tensor, _ = Preprocessor(ort.spec)(frame)
        expected = ort.detect(tensor)
        found = real_trt.detect(tensor)
        for box, score, class_id in zip(
            expected.boxes, expected.scores, expected.class_ids, strict=True
        ):
            if score < 0.4:
                continue
            same = found.class_ids == class_id
            overlaps = [iou(box, other) for other in found.boxes[same]]
            best = int(np.argmax(overlaps)) if overlaps else -1
            assert best >= 0 and overlaps[best] >= 0.9
            assert abs(float(found.scores[same][best]) - float(score)) <= 0.05
