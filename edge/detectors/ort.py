"""`ort`: NanoDet-format detectors on ONNX Runtime's CPU provider (the zero-hardware default).

One `InferenceSession` per agent, shared by every camera (`run` is thread-safe in ONNX Runtime),
built from bytes that were checked against the manifest's sha256 first.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import numpy as np
from pydantic import Field

from edge.detectors.base import DetectorSettings
from edge.detectors.model import ModelSpec, load_model_spec
from edge.detectors.nanodet import check_interface, decode
from edge.errors import BackendUnavailable
from models.detection import FloatArray, RawDetections
from models.errors import ModelError

logger = logging.getLogger(__name__)


class OrtSettings(DetectorSettings):
    """ONNX Runtime on the CPU."""

    type: Literal["ort"] = Field(default="ort", description="Detector backend key.")
    intra_op_threads: int = Field(
        default=2,
        ge=1,
        description="CPU threads one inference may use. NanoDet-g at 416x416 takes about 41 ms "
        "on 1 thread and 23 ms on 2; leave a core for decoding on small boxes.",
    )


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as err:
        raise BackendUnavailable(
            "detector type ort needs onnxruntime: install the `cpu` extra "
            "(uv sync --extra edge --extra cpu)"
        ) from err
    return onnxruntime


def _session(runtime: Any, model: bytes, spec: ModelSpec, threads: int) -> Any:
    options = runtime.SessionOptions()
    options.intra_op_num_threads = threads
    # One model per session and no parallel branches in it: extra inter-op threads only compete
    # with the cameras' decoding threads for cores.
    options.inter_op_num_threads = 1
    options.execution_mode = runtime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only; ONNX Runtime's warnings are not actionable
    # No busy-waiting between parallel sections: measured here on a loaded 2-core box, spinning
    # workers doubled the CPU per frame (87 vs 48 ms with 2 threads) and halved the frame rate,
    # because they compete with decoding, the other cameras and the transport threads.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    state = runtime.capi.onnxruntime_pybind11_state
    try:
        return runtime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except (state.Fail, state.InvalidProtobuf, state.InvalidGraph, state.NotImplemented) as err:
        raise ModelError(f"model {spec.name} {spec.version} ({spec.path}) cannot be loaded by "
                         f"ONNX Runtime {runtime.__version__}: {err}") from err  # fmt: skip


class OrtDetector:
    """Implements `edge.detectors.base.Detector` with ONNX Runtime and the NanoDet decode."""

    def __init__(self, settings: OrtSettings) -> None:
        """Verify and load the model, check its interface, and warm it up (see below).

        Raises ModelError (missing, tampered or unusable model) or BackendUnavailable.
        """
        runtime = _import_onnxruntime()
        self._settings = settings
        self._spec = spec = load_model_spec(settings.model)
        started = time.perf_counter()
        self._session = _session(runtime, spec.read_verified(), spec, settings.intra_op_threads)
        check_interface(
            spec,
            f"model {spec.path}",
            {i.name: i.shape for i in self._session.get_inputs()},
            (o.name for o in self._session.get_outputs()),
        )
        self._output_names = [output.name for output in self._session.get_outputs()]
        # Warm-up: ONNX Runtime's first run allocates its memory arena and prepares kernels, and
        # costs several steady-state runs. Paying it here keeps that stall out of the first
        # frame (where it would skew latency metrics and can trip a live stream's read timeout)
        # and turns a model that loads but cannot run into a startup error, not a mid-stream one.
        width, height = spec.input_size
        self.detect(np.zeros((1, 3, height, width), dtype=np.float32))
        logger.info(
            "detector ort: %s %s loaded and warmed up in %.2fs (%d intra-op threads, sha256 ok)",
            spec.name, spec.version, time.perf_counter() - started, settings.intra_op_threads,
        )  # fmt: skip

    @property
    def spec(self) -> ModelSpec:
        """The model being run."""
        return self._spec

    def detect(self, tensor: FloatArray) -> RawDetections:
        """Detections in model-input pixels, best first (see `Detector.detect`)."""
        outputs = self._session.run(self._output_names, {self._spec.input_name: tensor})
        named = dict(zip(self._output_names, outputs, strict=True))
        return decode(named, self._spec, self._settings)

    def close(self) -> None:
        """Drop the session; ONNX Runtime frees it with the last reference."""
        self._session = None
