"""`trt`: NanoDet-format detectors as TensorRT engines on an NVIDIA GPU (x86 or Jetson).

An engine is compiled on the device for its model, TensorRT version and GPU, and kept in an
engine cache (`models.engines`: `<key>.engine` + its manifest). The first start with a model
builds it through `models.trt_engine.build_engine` (minutes on a Jetson; progress is logged),
later starts load it; every load checks the engine against its manifest, the model's sha256 and
this device first (`check_engine`) and refuses anything else with a ModelError rather than
rebuilding over it, so a tampered or copied-in engine is noticed, not silently replaced.

The interface check and the decode are the ones the `ort` backend uses (`edge.detectors.nanodet`),
fed with the same preprocessed tensor (`edge.detectors.preprocess`): only the runtime differs.
TensorRT and pycuda come from NVIDIA's base image (docker/edge-jetson, docker/edge-cuda) and are
imported only when this backend is built.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from pydantic import Field

from edge.detectors.base import DetectorSettings
from edge.detectors.model import ModelSpec, load_model_spec
from edge.detectors.nanodet import check_interface, decode
from edge.errors import BackendUnavailable
from models.cache import cache_root
from models.detection import FloatArray, RawDetections
from models.engines import (
    EngineManifest,
    EngineTarget,
    Precision,
    check_engine,
    engine_cache_key,
    engine_paths,
    read_manifest,
)
from models.errors import ModelError, RuntimeUnavailableError
from models.trt_engine import Progress, build_engine, current_target
from models.trt_runtime import TrtRunner

logger = logging.getLogger(__name__)


class TrtSettings(DetectorSettings):
    """A TensorRT engine built on this device from the model's ONNX file."""

    type: Literal["trt"] = Field(default="trt", description="Detector backend key.")
    engine_cache: Path | None = Field(
        default=None,
        description="Folder of built engines and their manifests. null: "
        "$SIGHTLINE_CACHE_DIR/engines (~/.cache/sightline/engines). Keep it on a persistent "
        "volume: a Jetson takes minutes to build one.",
    )
    precision: Literal["fp16", "fp32"] = Field(
        default="fp16",
        description="Kernel precision. fp16 is about twice as fast as fp32 on Jetson and "
        "keeps NanoDet's accuracy; INT8 engines need calibration and an accuracy gate, which "
        "the export tooling does.",
    )
    max_batch: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Largest batch the engine accepts. The agent detects one frame at a time; "
        "a model exported with a fixed batch (NanoDet-g) must keep 1.",
    )
    workspace_mib: int = Field(
        default=1024,
        ge=16,
        description="GPU memory TensorRT may use while choosing kernels during a build (a "
        "Jetson shares it with the CPU: keep it modest there).",
    )


class EngineRunner(Protocol):
    """What the detector needs of a loaded engine (`models.trt_runtime.TrtRunner`)."""

    input_shape: tuple[int, int, int]
    max_batch: int
    output_names: tuple[str, ...]

    def run(self, batch: FloatArray) -> dict[str, FloatArray]:
        """Outputs by name for an NCHW float32 batch."""

    def close(self) -> None:
        """Release the engine."""


class EngineBuilder(Protocol):
    """`models.trt_engine.build_engine`, as this backend calls it."""

    def __call__(
        self,
        onnx_path: Path,
        cache_dir: Path,
        *,
        model_name: str,
        precision: Precision,
        max_batch: int,
        progress: Progress | None = None,
        workspace_bytes: int = ...,
    ) -> tuple[Path, EngineManifest]:
        """Build, write and return the engine and its manifest."""


@dataclass(frozen=True, slots=True)
class EngineRuntime:
    """The TensorRT calls this backend makes, in one place so tests can stand in for them."""

    target: Callable[[], EngineTarget]
    build: EngineBuilder
    open: Callable[[Path, EngineManifest], EngineRunner]


TENSORRT = EngineRuntime(target=current_target, build=build_engine, open=TrtRunner)


def _log_progress(step: str, fraction: float) -> None:
    logger.info("engine build: %s %3.0f%%", step, fraction * 100)


def prepared_engine(
    settings: TrtSettings, spec: ModelSpec, runtime: EngineRuntime = TENSORRT
) -> tuple[Path, EngineManifest, EngineTarget]:
    """The checked engine of `spec` for this device and `settings`: the cached one, or one
    built now (logging its progress). Used by this backend and the DeepStream pipeline.

    Raises ModelError (tampered model or engine, an engine for another model, TensorRT, device
    or settings) or BackendUnavailable (no TensorRT, pycuda or GPU here).
    """
    try:
        target = runtime.target()
        engine_path, manifest = _cached_or_built(settings, spec, runtime, target)
        check_engine(engine_path, manifest, model_sha256=spec.sha256, target=target)
    except RuntimeUnavailableError as err:
        raise BackendUnavailable(f"detector type trt: {err}") from err
    if (manifest.precision, manifest.max_batch) != (settings.precision, settings.max_batch):
        raise ModelError(
            f"engine {engine_path} is {manifest.precision} with max_batch {manifest.max_batch}, "
            f"not the configured {settings.precision} with {settings.max_batch}; refusing it"
        )
    return engine_path, manifest, target


def _cached_or_built(
    settings: TrtSettings, spec: ModelSpec, runtime: EngineRuntime, target: EngineTarget
) -> tuple[Path, EngineManifest]:
    cache_dir = engine_cache_dir(settings)
    key = engine_cache_key(spec.sha256, target, settings.precision, settings.max_batch)
    engine_path, manifest_path = engine_paths(cache_dir, key)
    if manifest_path.is_file():
        return engine_path, read_manifest(manifest_path)
    # Minutes of building must not start from a file that differs from the manifest.
    spec.read_verified()
    logger.info(
        "detector trt: no engine for %s %s on %s (TensorRT %s) in %s; building one (%s), "
        "which can take many minutes on a Jetson",
        spec.name, spec.version, target.device_name, target.tensorrt_version, cache_dir,
        settings.precision,
    )  # fmt: skip
    return runtime.build(
        spec.path,
        cache_dir,
        model_name=spec.name,
        precision=settings.precision,
        max_batch=settings.max_batch,
        progress=_log_progress,
        workspace_bytes=settings.workspace_mib << 20,
    )


def engine_cache_dir(settings: TrtSettings) -> Path:
    """Where engines are kept: the configured folder or `<cache root>/engines`."""
    return settings.engine_cache or cache_root() / "engines"


class TrtDetector:
    """Implements `edge.detectors.base.Detector` with a TensorRT engine and the NanoDet decode.

    Thread-safety: `detect` may be called from several camera threads; the runner serialises
    calls on its one execution context.
    """

    def __init__(self, settings: TrtSettings, *, runtime: EngineRuntime = TENSORRT) -> None:
        """Find or build the engine, check it, load it, check its interface and warm it up.

        Raises ModelError (missing, tampered or unusable model or engine) or BackendUnavailable
        (no TensorRT, pycuda or GPU here).
        """
        self._settings = settings
        self._spec = spec = load_model_spec(settings.model)
        started = time.perf_counter()
        engine_path, manifest, target = prepared_engine(settings, spec, runtime)
        try:
            self._runner = runtime.open(engine_path, manifest)
        except RuntimeUnavailableError as err:
            raise BackendUnavailable(f"detector type trt: {err}") from err
        check_interface(
            spec,
            f"engine {engine_path}",
            {manifest.input_name: [1, *self._runner.input_shape]},
            self._runner.output_names,
        )
        # Warm-up: the first execution initialises CUDA kernels and memory, a stall that
        # belongs at startup, not on the first frame of a live stream (as for `ort`).
        width, height = spec.input_size
        self.detect(np.zeros((1, 3, height, width), dtype=np.float32))
        logger.info(
            "detector trt: %s %s loaded and warmed up in %.2fs (%s, %s on %s, TensorRT %s)",
            spec.name, spec.version, time.perf_counter() - started, engine_path.name,
            manifest.precision, target.device_name, target.tensorrt_version,
        )  # fmt: skip

    @property
    def spec(self) -> ModelSpec:
        """The model being run."""
        return self._spec

    def detect(self, tensor: FloatArray) -> RawDetections:
        """Detections in model-input pixels, best first (see `Detector.detect`)."""
        return decode(self._runner.run(tensor), self._spec, self._settings)

    def close(self) -> None:
        """Free the engine's GPU buffers."""
        self._runner.close()
