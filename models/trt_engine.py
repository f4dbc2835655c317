"""The one TensorRT engine builder: ONNX file in, `<key>.engine` + its manifest out.

The edge agent builds an engine on the device the first time it runs a model (and after a
TensorRT upgrade: the key changes), and the export tooling builds INT8 engines with a parity
gate; both call `build_engine`, so there is one place that knows the TensorRT builder API
(TensorRT 10: explicit batch networks, `IProgressMonitor`, `build_serialized_network`).

`tensorrt` and `pycuda` are imported inside the functions that need them, never at module
import, so this stays a light module (docs/architecture.md, "Backends"): the pure parts (the
optimisation profile, builder flags, progress accounting, the ONNX opset) run and are tested
anywhere.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from models.engines import (
    CalibrationRecord,
    EngineManifest,
    EngineTarget,
    Precision,
    engine_cache_key,
    engine_paths,
    write_atomic,
    write_manifest,
)
from models.errors import ModelError, RuntimeUnavailableError

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
"""`progress(step, fraction)`: a build step's name and how far it is, 0.0 to 1.0."""

Shape = tuple[int, ...]

INSTALL_HINT = (
    "TensorRT engines need the tensorrt and pycuda Python packages and an NVIDIA GPU: run the "
    "edge-jetson or edge-cuda image (docker/), where NVIDIA's base image provides them"
)


def import_tensorrt() -> Any:
    """The `tensorrt` module, or RuntimeUnavailableError saying where to get it."""
    try:
        import tensorrt
    except ImportError as err:
        raise RuntimeUnavailableError(f"{INSTALL_HINT} (import tensorrt: {err})") from err
    return tensorrt


def import_pycuda() -> Any:
    """`pycuda.driver`, initialised, or RuntimeUnavailableError."""
    try:
        import pycuda.driver as cuda
    except ImportError as err:
        raise RuntimeUnavailableError(f"{INSTALL_HINT} (import pycuda.driver: {err})") from err
    try:
        cuda.init()
        count = cuda.Device.count()
    except cuda.Error as err:
        raise RuntimeUnavailableError(f"{INSTALL_HINT} (CUDA: {err})") from err
    if count == 0:
        raise RuntimeUnavailableError(f"{INSTALL_HINT} (CUDA sees no device)")
    return cuda


def current_target() -> EngineTarget:
    """This machine's TensorRT version and first CUDA device (the one engines are built for).

    Raises RuntimeUnavailableError when TensorRT, pycuda or a GPU is missing.
    """
    trt = import_tensorrt()
    cuda = import_pycuda()
    device = cuda.Device(0)
    major, minor = device.compute_capability()
    return EngineTarget(
        tensorrt_version=str(trt.__version__),
        device_name=str(device.name()),
        compute_capability=f"{major}.{minor}",
    )


def profile_shapes(
    name: str, dims: Sequence[int], max_batch: int
) -> tuple[Shape, Shape, Shape] | None:
    """The (min, opt, max) shapes of the optimisation profile for input `name` with `dims`
    (-1 for a dynamic axis), or None for a fixed-shape input, which needs no profile.

    Only the batch axis may be dynamic: the agent letterboxes every frame to one size. The
    profile spans 1..max_batch and TensorRT tunes its kernels for max_batch (`opt`), the batch
    that a full set of cameras sends. A fixed batch must equal max_batch. Raises ModelError.
    """
    if len(dims) != 4 or any(d < 1 for d in dims[1:]):
        raise ModelError(
            f"input {name} has shape {list(dims)}: only NCHW inputs with a fixed channel count, "
            "height and width are supported (the batch axis may be dynamic)"
        )
    batch = dims[0]
    if batch >= 0:
        if batch != max_batch:
            raise ModelError(
                f"input {name} has a fixed batch of {batch}, so max_batch must be {batch}, not "
                f"{max_batch}; export the model with a dynamic batch axis for larger batches"
            )
        return None
    rest = tuple(dims[1:])
    return (1, *rest), (max_batch, *rest), (max_batch, *rest)


def builder_flags(precision: Precision) -> tuple[str, ...]:
    """Names of the `trt.BuilderFlag`s for `precision`.

    INT8 also allows FP16, so layers without an INT8 kernel fall back to FP16 rather than FP32,
    as NVIDIA's INT8 samples do. FP32 sets none: TF32 is TensorRT's default and stays on.
    """
    return {"fp32": (), "fp16": ("FP16",), "int8": ("INT8", "FP16")}[precision]


class BuildProgress:
    """Turns `trt.IProgressMonitor` callbacks into `progress(step, fraction)` calls.

    Nested phases are named `parent / child`. A phase reports its start (0.0), its finish (1.0)
    and, in between, each time it enters a new tenth (by default): the tactic phases have
    thousands of steps and a log line each would drown the log.
    """

    def __init__(self, report: Progress, parts: int = 10) -> None:
        self._report = report
        self._parts = parts
        self._phases: dict[str, tuple[str, int, int]] = {}
        """phase name -> (full name, number of steps, part last reported)."""

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        """A phase began; `parent_phase` is None for a top-level one."""
        parent = self._phases.get(parent_phase) if parent_phase is not None else None
        full = f"{parent[0]} / {phase_name}" if parent is not None else phase_name
        self._phases[phase_name] = (full, num_steps, 0)
        self._report(full, 0.0)

    def step_complete(self, phase_name: str, step: int) -> bool:
        """Step `step` of a phase is done; True lets the build go on."""
        known = self._phases.get(phase_name)
        if known is None or known[1] <= 0:
            return True
        full, steps, last = known
        part = min(step * self._parts // steps, self._parts)
        if part > last:
            self._phases[phase_name] = (full, steps, part)
            self._report(full, part / self._parts)
        return True

    def phase_finish(self, phase_name: str) -> None:
        """A phase ended."""
        known = self._phases.pop(phase_name, None)
        if known is not None:
            self._report(known[0], 1.0)


def _progress_monitor(trt: Any, progress: BuildProgress) -> Any:
    """A `trt.IProgressMonitor` (TensorRT >= 10) that forwards to `progress`."""

    class Monitor(trt.IProgressMonitor):  # type: ignore[misc]  # tensorrt has no type stubs
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        # Exceptions must not escape into TensorRT's C++ build loop: log and carry on.
        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            try:
                progress.phase_start(phase_name, parent_phase, num_steps)
            except Exception:
                logger.exception("engine build progress: phase_start failed")

        def step_complete(self, phase_name: str, step: int) -> bool:
            try:
                return progress.step_complete(phase_name, step)
            except Exception:
                logger.exception("engine build progress: step_complete failed")
                return True

        def phase_finish(self, phase_name: str) -> None:
            try:
                progress.phase_finish(phase_name)
            except Exception:
                logger.exception("engine build progress: phase_finish failed")

    return Monitor()


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int | memoryview]]:
    """(field number, value) of each field of one protobuf message; fixed-width values are
    skipped (yielded as 0), length-delimited ones are views into `data`."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        value: int | memoryview = 0
        if wire_type == 0:
            value, pos = _varint(data, pos)
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            value = data[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        if pos > len(data):
            raise ValueError("truncated field")
        yield number, value


_OPSET_IMPORT = 8  # ModelProto.opset_import (onnx.proto)
_DEFAULT_DOMAINS = ("", "ai.onnx")


def onnx_opset(data: bytes) -> int:
    """The default-domain opset an ONNX file imports (`ModelProto.opset_import`).

    Read straight from the protobuf wire format, because devices that build engines have
    TensorRT but not necessarily the `onnx` package. Raises ModelError when there is none.
    """
    try:
        for number, value in _fields(memoryview(data)):
            if number != _OPSET_IMPORT or not isinstance(value, memoryview):
                continue
            entry = dict(_fields(value))
            domain = entry.get(1, memoryview(b""))
            if isinstance(domain, memoryview) and bytes(domain).decode() in _DEFAULT_DOMAINS:
                version = entry.get(2, 0)
                if isinstance(version, int) and version > 0:
                    return version
    except (ValueError, UnicodeDecodeError) as err:
        raise ModelError(f"not an ONNX model: {err}") from err
    raise ModelError("the ONNX model imports no default-domain opset")


def build_engine(
    onnx_path: Path,
    cache_dir: Path,
    *,
    model_name: str,
    precision: Precision,
    max_batch: int,
    calibrator: object | None = None,
    calibration: CalibrationRecord | None = None,
    progress: Progress | None = None,
    workspace_bytes: int = 1 << 30,
) -> tuple[Path, EngineManifest]:
    """Build a TensorRT engine from the ONNX file at `onnx_path` into `cache_dir`.

    The network has one NCHW input whose batch axis may be dynamic (an optimisation profile
    spans 1..max_batch: `profile_shapes`). `precision` int8 needs `calibrator`, a
    `trt.IInt8EntropyCalibrator2`, and `calibration` records how it was fed. `progress` is
    called from TensorRT's progress monitor (TensorRT >= 10). Writes `<key>.engine` then
    `<key>.engine.json` atomically (`models.engines`), so a crash leaves no manifest and the
    next run builds again. Returns both.

    Raises ModelError (unreadable or unsupported model, build failure) or
    RuntimeUnavailableError (no TensorRT, pycuda or GPU).
    """
    if precision == "int8" and calibrator is None:
        raise ModelError("an int8 engine needs a calibrator (trt.IInt8EntropyCalibrator2)")
    if max_batch < 1:
        raise ModelError(f"max_batch must be at least 1, not {max_batch}")
    trt = import_tensorrt()
    target = current_target()
    try:
        data = onnx_path.read_bytes()
    except OSError as err:
        raise ModelError(f"model file {onnx_path}: cannot read: {err.strerror}") from err
    model_sha256 = hashlib.sha256(data).hexdigest()
    opset = onnx_opset(data)
    started = time.monotonic()

    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    # TensorRT 10 networks are always explicit-batch: the creation flag is gone (0).
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse(data):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT cannot parse {onnx_path}: {errors}")
    if network.num_inputs != 1:
        raise ModelError(f"{onnx_path}: one input expected, the network has {network.num_inputs}")
    tensor = network.get_input(0)
    dims = tuple(int(d) for d in tensor.shape)
    shapes = profile_shapes(tensor.name, dims, max_batch)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if shapes is not None:
        profile = builder.create_optimization_profile()
        profile.set_shape(tensor.name, *shapes)
        config.add_optimization_profile(profile)
    for flag in builder_flags(precision):
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if precision == "int8":
        config.int8_calibrator = calibrator
        if shapes is not None:
            # A dynamic-shape network is calibrated at one shape: the profile's.
            config.set_calibration_profile(profile)
    if progress is not None and hasattr(trt, "IProgressMonitor"):
        config.progress_monitor = _progress_monitor(trt, BuildProgress(progress))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(
            f"TensorRT {target.tensorrt_version} could not build a {precision} engine from "
            f"{onnx_path} (its log above says why)"
        )
    engine = bytes(serialized)

    key = engine_cache_key(model_sha256, target, precision, max_batch)
    engine_path, manifest_path = engine_paths(cache_dir, key)
    write_atomic(engine_path, engine)
    manifest = EngineManifest(
        model_sha256=model_sha256,
        model_name=model_name,
        opset=opset,
        input_name=tensor.name,
        input_shape=(dims[1], dims[2], dims[3]),
        max_batch=max_batch,
        precision=precision,
        target=target,
        engine_sha256=hashlib.sha256(engine).hexdigest(),
        built_at=datetime.now(UTC),
        build_seconds=time.monotonic() - started,
        calibration=calibration,
    )
    write_manifest(manifest_path, manifest)
    logger.info(
        "engine %s: %s %s built in %.0fs for %s (TensorRT %s)",
        engine_path.name, model_name, precision, manifest.build_seconds, target.device_name,
        target.tensorrt_version,
    )  # fmt: skip
    return engine_path, manifest
