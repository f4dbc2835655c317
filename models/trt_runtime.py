"""Running a TensorRT engine: `TrtRunner` (TensorRT 10 named tensors + pycuda buffers).

The binding logic is pure and runs anywhere (`engine_bindings`, `check_bindings`,
`resolve_shape`, `check_batch`, `TensorBinding.nbytes`): which tensors are inputs and outputs,
how a dynamic batch axis resolves, how large each buffer must be. `TrtRunner` only adds the SDK
calls around it, in the order NVIDIA's samples use: deserialise, one execution context, one
page-locked host buffer and one device buffer per tensor sized for max_batch, their addresses
set once (`set_tensor_address`), then per call `set_input_shape`, copy in, `execute_async_v3`,
copy out, synchronise.

`tensorrt` and `pycuda` are imported when a runner is made, never at module import (a light
module: docs/architecture.md, "Backends").
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.engines import EngineManifest
from models.errors import ModelError
from models.trt_engine import import_pycuda, import_tensorrt

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TensorBinding:
    """One input or output tensor of an engine."""

    name: str
    is_input: bool
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    """As the engine declares it: -1 on a dynamic batch axis."""

    @property
    def dynamic(self) -> bool:
        """Whether the batch axis is dynamic (set per call with `set_input_shape`)."""
        return bool(self.shape) and self.shape[0] < 0

    def nbytes(self, max_batch: int) -> int:
        """Bytes of a buffer that holds this tensor at `max_batch`."""
        return math.prod(resolve_shape(self.shape, max_batch)) * self.dtype.itemsize


def resolve_shape(shape: tuple[int, ...], batch: int) -> tuple[int, ...]:
    """`shape` with a dynamic (-1) batch axis set to `batch`; a fixed shape unchanged.

    Raises ModelError for a dynamic axis other than the batch: buffers could not be sized.
    """
    if any(d < 0 for d in shape[1:]):
        raise ModelError(f"shape {list(shape)}: only the batch axis may be dynamic")
    if shape and shape[0] < 0:
        return (batch, *shape[1:])
    return shape


def engine_bindings(trt: Any, engine: Any) -> tuple[TensorBinding, ...]:
    """Every I/O tensor of a `trt.ICudaEngine`, in the engine's order (TensorRT 10 names:
    `num_io_tensors`, `get_tensor_name`, `get_tensor_mode`, `get_tensor_dtype`,
    `get_tensor_shape`; `trt.nptype` maps the dtype)."""
    bindings = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        bindings.append(
            TensorBinding(
                name=name,
                is_input=engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                dtype=np.dtype(trt.nptype(engine.get_tensor_dtype(name))),
                shape=tuple(int(d) for d in engine.get_tensor_shape(name)),
            )
        )
    return tuple(bindings)


def check_bindings(
    bindings: tuple[TensorBinding, ...], manifest: EngineManifest
) -> tuple[TensorBinding, tuple[TensorBinding, ...]]:
    """The input and the outputs, after checking them against the engine's manifest: one
    float32 input named and shaped as recorded, with a batch axis that takes max_batch, and
    outputs whose only dynamic axis is the batch. Raises ModelError naming what differs."""
    inputs = [b for b in bindings if b.is_input]
    outputs = tuple(b for b in bindings if not b.is_input)
    problems = []
    if len(inputs) != 1:
        problems.append(f"{len(inputs)} inputs ({[b.name for b in inputs]}), one expected")
    else:
        (tensor,) = inputs
        batch = tensor.shape[0] if tensor.shape else 0
        if tensor.name != manifest.input_name:
            problems.append(f"input {tensor.name}, the manifest records {manifest.input_name}")
        if tensor.shape[1:] != manifest.input_shape:
            problems.append(
                f"input shape {list(tensor.shape)}, the manifest records "
                f"[batch, {', '.join(map(str, manifest.input_shape))}]"
            )
        if batch >= 0 and batch != manifest.max_batch:
            problems.append(f"fixed batch {batch}, the manifest records {manifest.max_batch}")
        if tensor.dtype != np.float32:
            problems.append(f"input dtype {tensor.dtype}, float32 expected")
    if not outputs:
        problems.append("no outputs")
    problems += [
        f"output {b.name} {list(b.shape)}" for b in outputs if any(d < 0 for d in b.shape[1:])
    ]
    if problems:
        raise ModelError(f"engine of {manifest.model_name} cannot be run: {'; '.join(problems)}")
    return inputs[0], outputs


def check_batch(batch: FloatArray, input_shape: tuple[int, int, int], max_batch: int) -> None:
    """Raise ValueError unless `batch` is a C-contiguous float32 `[n, *input_shape]` with
    1 <= n <= max_batch."""
    if batch.dtype != np.float32 or not batch.flags.c_contiguous:
        raise ValueError(f"a C-contiguous float32 batch is needed, got {batch.dtype}")
    if batch.ndim != 4 or batch.shape[1:] != input_shape or not 1 <= batch.shape[0] <= max_batch:
        raise ValueError(
            f"batch of shape {list(batch.shape)}: [1..{max_batch}, "
            f"{', '.join(map(str, input_shape))}] expected"
        )


class TrtRunner:
    """One deserialised engine, its execution context, buffers and CUDA stream.

    Thread-safety: `run` may be called from several threads; calls are serialised (one
    execution context, one set of buffers). The CUDA primary context of device 0 is the one
    TensorRT uses; it is made current around each call, from whichever thread calls.
    """

    def __init__(self, engine_path: Path, manifest: EngineManifest) -> None:
        """Load the engine at `engine_path` (its bytes must hash to `manifest.engine_sha256`)
        and allocate its buffers for `manifest.max_batch`.

        Raises ModelError (unreadable, altered or unusable engine) or RuntimeUnavailableError.
        """
        trt = import_tensorrt()
        self._cuda = cuda = import_pycuda()
        try:
            data = engine_path.read_bytes()
        except OSError as err:
            raise ModelError(f"engine {engine_path}: cannot read: {err.strerror}") from err
        # The bytes checked are the bytes deserialised (check_engine hashed the file earlier).
        if hashlib.sha256(data).hexdigest() != manifest.engine_sha256:
            raise ModelError(f"engine {engine_path} changed since it was checked; refusing it")
        self.max_batch = manifest.max_batch
        self.input_shape = manifest.input_shape
        self._lock = threading.Lock()
        self._device_context = cuda.Device(0).retain_primary_context()
        self._device_context.push()
        try:
            self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
            # The runtime must outlive the engine, and the engine its context: all kept.
            self._engine = self._runtime.deserialize_cuda_engine(data)
            if self._engine is None:
                raise ModelError(
                    f"TensorRT {trt.__version__} cannot deserialise {engine_path} (its log above "
                    "says why)"
                )
            self._input, self._outputs = check_bindings(
                engine_bindings(trt, self._engine), manifest
            )
            self.output_names = tuple(b.name for b in self._outputs)
            self._context = self._engine.create_execution_context()
            self._stream = cuda.Stream()
            self._host: dict[str, Any] = {}
            self._device: dict[str, Any] = {}
            for binding in (self._input, *self._outputs):
                count = binding.nbytes(self.max_batch) // binding.dtype.itemsize
                self._host[binding.name] = cuda.pagelocked_empty(count, binding.dtype)
                self._device[binding.name] = cuda.mem_alloc(binding.nbytes(self.max_batch))
                self._context.set_tensor_address(binding.name, int(self._device[binding.name]))
        finally:
            cuda.Context.pop()

    def run(self, batch: FloatArray) -> dict[str, FloatArray]:
        """Outputs by name for an NCHW float32 `batch` of 1..max_batch images (copies: the
        buffers are reused by the next call). Raises ValueError for a batch of another shape
        and ModelError when TensorRT fails to enqueue."""
        check_batch(batch, self.input_shape, self.max_batch)
        count = batch.shape[0]
        cuda, name = self._cuda, self._input.name
        with self._lock:
            self._device_context.push()
            try:
                if self._input.dynamic:
                    self._context.set_input_shape(name, batch.shape)
                host = self._host[name][: batch.size]
                np.copyto(host, batch.reshape(-1))
                cuda.memcpy_htod_async(self._device[name], host, self._stream)
                if not self._context.execute_async_v3(stream_handle=self._stream.handle):
                    raise ModelError("TensorRT failed to enqueue the engine (see its log)")
                results: dict[str, FloatArray] = {}
                for binding in self._outputs:
                    shape = resolve_shape(binding.shape, count)
                    out = self._host[binding.name][: math.prod(shape)]
                    cuda.memcpy_dtoh_async(out, self._device[binding.name], self._stream)
                    results[binding.name] = out.reshape(shape)
                self._stream.synchronize()
                return {key: value.copy() for key, value in results.items()}
            finally:
                cuda.Context.pop()

    def close(self) -> None:
        """Free the device buffers and release the CUDA context; `run` must not follow."""
        with self._lock:
            self._device_context.push()
            try:
                for buffer in self._device.values():
                    buffer.free()
                self._device.clear()
                self._context = self._engine = None
            finally:
                self._cuda.Context.pop()
            self._device_context.detach()
