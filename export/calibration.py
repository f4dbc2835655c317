"""INT8 calibration for TensorRT: real frames and crops in fixed batches, and the calibrator.

Public surface: `CalibrationPlan`, `calibration_batches`, `CalibrationFeed`, `cache_path` and
`make_entropy_calibrator`.

TensorRT's entropy calibrator asks for batches one at a time (`get_batch`) until it gets None,
then hands back a calibration table to keep (`write_calibration_cache`); given that table
again (`read_calibration_cache`) it skips calibration. Everything but the copy to the GPU is
pure and lives in `CalibrationFeed`, tested without TensorRT. The `trt.IInt8EntropyCalibrator2`
subclass is made by `make_entropy_calibrator`, which is the only place tensorrt and pycuda are
imported (NVIDIA's Python samples' calibrator shape: a device buffer of one batch,
`memcpy_htod`, the pointer as an int; in the primary context, as `models.trt_runtime`).

The images are real (`export.samples`) and fed exactly as the runtime feeds them
(`export.samples.input_tensor`: the detectors' letterbox or the embedder's stretch, mean, std and
colour order from the model's manifest): calibrating on other inputs would fit the INT8 ranges to
activations the model never sees in service.
"""

from __future__ import annotations

import hashlib
import importlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from export.samples import Image, stack_inputs
from models.engines import CalibrationRecord
from models.manifest import InputSpec

FloatArray = npt.NDArray[np.float32]
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class CalibrationPlan:
    """How many real frames and crops calibrate an engine, in batches of `batch_size`."""

    frames: int
    crops: int
    batch_size: int

    def __post_init__(self) -> None:
        if self.frames < 0 or self.crops < 0 or self.batch_size < 1:
            raise ValueError(f"bad calibration plan {self}")
        if self.frames + self.crops < self.batch_size:
            raise ValueError(
                f"{self.frames} frames and {self.crops} crops do not fill one batch of "
                f"{self.batch_size}"
            )


def calibration_batches(
    images: Sequence[Image], spec: InputSpec, batch_size: int
) -> list[FloatArray]:
    """`images` as model inputs (see `export.samples.input_tensor`) in full batches.

    TensorRT calibrates with one batch size, so a last partial batch is dropped rather than
    padded with zeros, which would pull the activation histograms towards zero. Raises
    `ValueError` when not even one batch fills.
    """
    full = len(images) - len(images) % batch_size
    if full == 0:
        raise ValueError(f"{len(images)} images do not fill one batch of {batch_size}")
    inputs = stack_inputs(images[:full], spec)
    return [np.ascontiguousarray(inputs[i : i + batch_size]) for i in range(0, full, batch_size)]


def cache_path(cache_dir: Path, model_sha256: str, plan: CalibrationPlan) -> Path:
    """The calibration table's file: one per model and plan, since TensorRT reuses a table it
    is given without checking what it was made from."""
    name = f"{model_sha256[:16]}-{plan.frames}f-{plan.crops}c-b{plan.batch_size}.calibration"
    return cache_dir / name


class CalibrationFeed:
    """The pure half of the calibrator: batches one at a time, progress, the table file."""

    def __init__(
        self,
        batches: Sequence[FloatArray],
        cache_file: Path,
        progress: Progress | None = None,
    ) -> None:
        if not batches or len({batch.shape for batch in batches}) != 1:
            raise ValueError("calibration needs at least one batch, all of one shape")
        self._batches = list(batches)
        self._next = 0
        self.cache_file = cache_file
        self._progress = progress

    @property
    def batch_size(self) -> int:
        """Images per batch."""
        return int(self._batches[0].shape[0])

    @property
    def batch_nbytes(self) -> int:
        """Bytes of one batch, the device buffer's size."""
        return int(self._batches[0].nbytes)

    @property
    def batches_given(self) -> int:
        """How many batches TensorRT has taken so far."""
        return self._next

    def next_batch(self) -> FloatArray | None:
        """The next batch (C-contiguous float32), or None when all were given."""
        if self._next == len(self._batches):
            return None
        batch = self._batches[self._next]
        self._next += 1
        if self._progress is not None:
            self._progress("calibration batches", self._next / len(self._batches))
        return batch

    def read_cache(self) -> bytes | None:
        """The table from an earlier calibration of the same model and plan, if any."""
        return self.cache_file.read_bytes() if self.cache_file.is_file() else None

    def write_cache(self, table: bytes) -> None:
        """Keep the table TensorRT computed (atomically: a half-written table would be read)."""
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=self.cache_file.parent, prefix=".calibration-", delete=False
        ) as stream:
            stream.write(table)
        Path(stream.name).replace(self.cache_file)

    def record(self, plan: CalibrationPlan) -> CalibrationRecord:
        """What the engine manifest says about this calibration (after the build wrote the
        table). Raises `FileNotFoundError` when TensorRT wrote no table."""
        digest = hashlib.sha256(self.cache_file.read_bytes()).hexdigest()
        return CalibrationRecord(
            frames=plan.frames, crops=plan.crops, batch_size=plan.batch_size, cache_sha256=digest
        )


def make_entropy_calibrator(feed: CalibrationFeed) -> Any:
    """A `trt.IInt8EntropyCalibrator2` that feeds `feed`'s batches through one device buffer.

    The buffer lives in device 0's primary CUDA context, the one TensorRT's builder and
    `models.trt_runtime.TrtRunner` use; it is made current only around our own CUDA calls, so
    that TensorRT, reading the buffer from its own thread state, finds it in its context.
    Raises ImportError where tensorrt or pycuda is missing.
    """
    # Imported by name: neither ships type information, and both exist only on NVIDIA machines.
    trt = importlib.import_module("tensorrt")
    cuda = importlib.import_module("pycuda.driver")
    cuda.init()
    context = cuda.Device(0).retain_primary_context()

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            context.push()
            try:
                self._buffer = cuda.mem_alloc(feed.batch_nbytes)
            finally:
                cuda.Context.pop()

        def get_batch_size(self) -> int:
            return feed.batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = feed.next_batch()
            if batch is None:
                return None
            context.push()
            try:
                cuda.memcpy_htod(self._buffer, batch)
            finally:
                cuda.Context.pop()
            return [int(self._buffer)]

        def read_calibration_cache(self) -> bytes | None:
            return feed.read_cache()

        def write_calibration_cache(self, cache: Any) -> None:
            feed.write_cache(bytes(cache))

    return EntropyCalibrator()
