"""`python -m export engine`: argument errors, and the build, calibration and gate flow.

TensorRT is not on this machine, so the flow runs against stand-ins of the seam's builder
(`models.trt_engine.build_engine`, `current_target`) and runner (`models.trt_runtime.TrtRunner`)
with their exact signatures: the "engines" are the built ONNX models run by ONNX Runtime, and the
INT8 stand-in distorts their outputs as a badly calibrated engine would. Everything else is real:
the manifests, the footage (vtest.avi), the preprocessing, the calibration feed, the decode and
the gate. The real build is `tests/export/test_engine_gpu.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

import export.engine_build as engine_build
from export.__main__ import main
from export.calibration import CalibrationFeed
from models.cache import sha256_file
from models.detection import NANODET_OUTPUT_NAMES
from models.engines import (
    EngineManifest,
    EngineTarget,
    engine_cache_key,
    engine_paths,
    read_manifest,
    write_manifest,
)
from models.manifest import manifest_path
from tests.models.built_models import require_model

TARGET = EngineTarget(tensorrt_version="10.3.0", device_name="stand-in", compute_capability="8.7")
Distortion = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


# Argument errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["engine"], "give a model name, or both --onnx FILE and --manifest FILE"),
        (["engine", "--onnx", "m.onnx"], "give a model name, or both"),
        (["engine", "nanodet-g", "--onnx", "m.onnx"], "not both"),
        (
            ["engine", "--onnx", "m.onnx", "--manifest", "MANIFESTS/mobilenetv2-reid.toml",
             "--calibration-crops", "10"],
            "--calibration-crops only apply to --precision int8",
        ),
        (
            ["engine", "--onnx", "m.onnx", "--manifest", "MANIFESTS/sface.toml",
             "--precision", "int8"],
            "INT8 is gated for detector, crop-embedder; sface is a face-embedder",
        ),
        (
            ["engine", "--onnx", "m.onnx", "--manifest", "MANIFESTS/nanodet-g.toml",
             "--max-batch", "4"],
            "nanodet-g has a fixed batch of 1",
        ),
        (
            ["engine", "--onnx", "m.onnx", "--manifest", "MANIFESTS/mobilenetv2-reid.toml",
             "--precision", "int8", "--max-batch", "8", "--calibration-crops", "7"],
            "0 frames and 7 crops do not fill one batch of 8",
        ),
        (
            ["engine", "--onnx", "m.onnx", "--manifest", "MANIFESTS/nanodet-g.toml",
             "--max-boxes-lost", "0.2"],
            "--max-boxes-lost only apply to --precision int8",
        ),
    ],
)  # fmt: skip
def test_engine_arguments_that_do_not_fit_exit_2_before_anything_runs(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg.replace("MANIFESTS", str(manifest_path("nanodet-g").parent)) for arg in argv]

    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_progress_prints_one_line_per_step_and_tenth() -> None:
    lines: list[str] = []
    printer = engine_build.ProgressPrinter(stream=_Lines(lines))

    for fraction in (0.0, 0.01, 0.05, 0.1, 0.55, 0.56, 1.0):
        printer("building", fraction)
    printer("calibration batches", 0.5)

    assert lines == ["building: 0%", "building: 10%", "building: 50%", "building: 100%",
                     "calibration batches: 50%"]  # fmt: skip


@dataclass
class _Lines:
    lines: list[str]

    def write(self, text: str) -> int:
        self.lines += text.splitlines()
        return len(text)

    def flush(self) -> None:
        pass


# The flow, against stand-ins -----------------------------------------------------------------


@dataclass
class _Seam:
    """Stand-ins for the builder and runner, recording what the flow asked of them."""

    onnx: Path
    int8_distortion: Distortion = lambda outputs: outputs
    builds: list[str] = field(default_factory=list)
    calibrated_batches: int = 0
    runners_open: int = 0
    sessions: dict[Path, Any] = field(default_factory=dict)

    def build_engine(
        self,
        onnx_path: Path,
        cache_dir: Path,
        *,
        model_name: str,
        precision: str,
        max_batch: int,
        calibrator: object | None = None,
        calibration: object | None = None,
        progress: Callable[[str, float], None] | None = None,
        workspace_bytes: int = 1 << 30,
    ) -> tuple[Path, EngineManifest]:
        self.builds.append(precision)
        assert (precision == "int8") == (calibrator is not None)
        if isinstance(calibrator, CalibrationFeed):
            # TensorRT pulls every batch, then hands back the table to keep.
            while calibrator.next_batch() is not None:
                self.calibrated_batches += 1
            calibrator.write_cache(b"TRT-10300-EntropyCalibration2\n")
        if progress is not None:
            progress("building", 1.0)
        model_sha = sha256_file(onnx_path)
        key = engine_cache_key(model_sha, TARGET, precision, max_batch)  # type: ignore[arg-type]
        engine, manifest_file = engine_paths(cache_dir, key)
        cache_dir.mkdir(parents=True, exist_ok=True)
        engine.write_bytes(f"{precision} engine of {onnx_path.name}".encode())
        manifest = EngineManifest(
            model_sha256=model_sha, model_name=model_name, opset=17, input_name="images",
            input_shape=(3, 224, 224), max_batch=max_batch, precision=precision,
            target=TARGET, engine_sha256=sha256_file(engine), built_at=datetime.now(UTC),
            build_seconds=1.0,
        )  # fmt: skip
        write_manifest(manifest_file, manifest)
        return engine, manifest

    def runner(self, engine_path: Path, manifest: EngineManifest) -> _Runner:
        assert engine_path.is_file()
        if self.onnx not in self.sessions:
            self.sessions[self.onnx] = ort.InferenceSession(
                str(self.onnx), providers=["CPUExecutionProvider"]
            )
        self.runners_open += 1
        distort = self.int8_distortion if manifest.precision == "int8" else (lambda o: o)
        return _Runner(self, self.sessions[self.onnx], manifest.max_batch, distort)


@dataclass
class _Runner:
    seam: _Seam
    session: Any
    max_batch: int
    distort: Distortion

    def run(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        assert 1 <= len(batch) <= self.max_batch and batch.dtype == np.float32
        names = [o.name for o in self.session.get_outputs()]
        input_name = self.session.get_inputs()[0].name
        outputs = dict(zip(names, self.session.run(names, {input_name: batch}), strict=True))
        return self.distort(outputs)

    def close(self) -> None:
        self.seam.runners_open -= 1


def _install(monkeypatch: pytest.MonkeyPatch, seam: _Seam) -> None:
    monkeypatch.setattr(engine_build, "build_engine", seam.build_engine)
    monkeypatch.setattr(engine_build, "current_target", lambda: TARGET)
    monkeypatch.setattr(engine_build, "TrtRunner", seam.runner)
    # The feed itself stands in for the TensorRT calibrator built around it.
    monkeypatch.setattr(engine_build, "make_entropy_calibrator", lambda feed: feed)


@pytest.fixture
def embedder_seam(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Seam]:
    seam = _Seam(require_model("mobilenetv2-reid"))
    _install(monkeypatch, seam)
    yield seam
    assert seam.runners_open == 0


EMBEDDER_INT8 = [
    *("engine", "mobilenetv2-reid", "--precision", "int8", "--max-batch", "4"),
    *("--calibration-crops", "8", "--held-out", "8"),
]


@pytest.mark.slow
def test_an_int8_embedder_that_keeps_to_fp16_is_accepted_with_its_records(
    embedder_seam: _Seam, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*EMBEDDER_INT8, "--cache-dir", str(tmp_path)]) == 0

    out = capsys.readouterr()
    assert embedder_seam.builds == ["fp16", "int8"]
    assert embedder_seam.calibrated_batches == 2
    manifests = {m.precision: m for m in map(read_manifest, tmp_path.glob("*.engine.json"))}
    assert set(manifests) == {"fp16", "int8"}
    int8 = manifests["int8"]
    assert int8.calibration is not None and int8.parity is not None
    assert (int8.calibration.frames, int8.calibration.crops) == (0, 8)
    assert int8.calibration.batch_size == 4
    assert int8.parity.passed and int8.parity.value == pytest.approx(0.0, abs=1e-6)
    assert int8.parity.metric == "fp16_mean_cosine_distance" and int8.parity.bound == 0.02
    assert "accepted: mobilenetv2-reid int8" in out.out
    assert "calibration batches: 100%" in out.err and "building: 100%" in out.err
    assert not list(tmp_path.glob(".int8-*"))  # built aside, then moved in

    # A second INT8 build reuses the cached FP16 engine and the calibration table's file.
    assert main([*EMBEDDER_INT8, "--cache-dir", str(tmp_path)]) == 0
    assert embedder_seam.builds == ["fp16", "int8", "int8"]


@pytest.mark.slow
def test_an_int8_embedder_that_drifts_is_refused_deleted_and_reported(
    embedder_seam: _Seam, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(0)

    def drift(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {n: o + rng.normal(0, 0.05, o.shape).astype(np.float32) for n, o in outputs.items()}

    embedder_seam.int8_distortion = drift

    assert main([*EMBEDDER_INT8, "--cache-dir", str(tmp_path)]) == 1

    out = capsys.readouterr().out
    engines = sorted(path.name for path in tmp_path.glob("*.engine"))
    (report_file,) = tmp_path.glob("*.refused.json")
    report = read_manifest(report_file)
    assert report.precision == "int8" and report.parity is not None
    assert not report.parity.passed and report.parity.value > 0.02
    assert len(engines) == 1 and read_manifest(tmp_path / f"{engines[0]}.json").precision == "fp16"
    assert "REFUSED" in out and "engine: deleted" in out and str(report_file) in out
    assert not list(tmp_path.glob(".int8-*"))  # the staging folder went with the engine


@pytest.mark.slow
def test_the_detector_gate_decodes_boxes_and_forgives_scores_that_only_sink(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seam = _Seam(require_model("nanodet-g"))
    scores = {pair[0] for pair in NANODET_OUTPUT_NAMES.values()}
    # Every score at 60%: boxes above the 0.3 judged threshold stay above the INT8 one (0.15).
    seam.int8_distortion = lambda o: {n: a * 0.6 if n in scores else a for n, a in o.items()}
    _install(monkeypatch, seam)

    code = main(
        [
            *("engine", "nanodet-g", "--precision", "int8", "--cache-dir", str(tmp_path)),
            *("--calibration-frames", "4", "--held-out", "3"),
        ]
    )

    assert code == 0, capsys.readouterr()
    manifests = {m.precision: m for m in map(read_manifest, tmp_path.glob("*.engine.json"))}
    int8 = manifests["int8"]
    assert int8.parity is not None and int8.parity.metric == "fp16_boxes_lost_iou0.5"
    assert int8.parity.value == 0.0 and seam.calibrated_batches == 4
