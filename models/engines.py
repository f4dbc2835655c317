"""TensorRT engines as files: the manifest beside each engine, the cache key, and the check that
an engine on disk is the one its manifest describes and fits this model and this device.

A TensorRT engine is compiled for one model, one TensorRT version and one GPU (or Jetson SoC):
loading it anywhere else fails or, worse, runs subtly wrong kernels. So every engine is written
with an `EngineManifest` beside it (`<key>.engine` + `<key>.engine.json`), its file name is a
key over everything that makes it different (`engine_cache_key`), and `check_engine` refuses an
engine whose bytes, model, TensorRT or device differ from what the manifest and the caller say,
naming each difference. The edge builds engines at model swap and the export tooling builds
INT8 engines with a parity gate; both write and read them through this module.

A light module (see `models.manifest`): pydantic and the standard library only; no TensorRT.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.cache import sha256_file
from models.errors import ModelError

Precision = Literal["fp32", "fp16", "int8"]

ENGINE_SUFFIX = ".engine"
MANIFEST_SUFFIX = ".engine.json"


class EngineTarget(BaseModel):
    """What an engine is compiled for: the TensorRT version and the GPU or Jetson SoC."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tensorrt_version: str = Field(description="TensorRT version that built it, e.g. 10.3.0.")
    device_name: str = Field(description="CUDA device name, e.g. Orin or NVIDIA H100 80GB HBM3.")
    compute_capability: str = Field(description='CUDA compute capability, e.g. "8.7" (Orin).')


class CalibrationRecord(BaseModel):
    """How an INT8 engine was calibrated (by the export tooling)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames: int = Field(ge=0, description="Real frames the calibrator read.")
    crops: int = Field(ge=0, description="Real crops the calibrator read.")
    batch_size: int = Field(ge=1, description="Calibration batch size.")
    cache_sha256: str = Field(description="sha256 of the calibration cache file.")


class ParityRecord(BaseModel):
    """The accuracy check an engine passed (or failed) against a reference precision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(description="What was compared, e.g. mAP@0.5 on the calibration frames.")
    reference: Precision = Field(description="Precision compared against (fp16 for INT8).")
    value: float = Field(description="The measured drop or distance.")
    bound: float = Field(description="The largest value accepted.")
    passed: bool = Field(description="Whether value stayed within bound.")


class EngineManifest(BaseModel):
    """The record written beside each engine: what it was built from, for, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_sha256: str = Field(description="sha256 of the ONNX file the engine was built from.")
    model_name: str = Field(description="Model name (its models/<name>.toml).")
    opset: int = Field(ge=1, description="ONNX opset of the default domain in that file.")
    input_name: str = Field(description="The network's input tensor.")
    input_shape: tuple[int, int, int] = Field(description="Input (channels, height, width).")
    max_batch: int = Field(ge=1, description="Largest batch the optimisation profile accepts.")
    precision: Precision = Field(description="fp32, fp16 or int8 kernels allowed.")
    target: EngineTarget = Field(description="TensorRT version and device it runs on.")
    engine_sha256: str = Field(description="sha256 of the serialised engine file.")
    built_at: datetime = Field(description="When the build finished (UTC).")
    build_seconds: float = Field(ge=0, description="How long the build took.")
    calibration: CalibrationRecord | None = Field(
        default=None, description="INT8 only: how it was calibrated."
    )
    parity: ParityRecord | None = Field(
        default=None, description="The accuracy gate it passed, when one was run."
    )


def engine_cache_key(
    model_sha256: str, target: EngineTarget, precision: Precision, max_batch: int
) -> str:
    """The file name stem of the engine built from this model, for this target, so.

    Readable at a glance (model, precision, batch) and unique over everything that makes two
    engines differ: a new TensorRT or another GPU gives another key, so an upgraded device
    builds afresh instead of loading an engine it cannot run.
    """
    identity = json.dumps(
        {
            "model_sha256": model_sha256,
            "target": target.model_dump(),
            "precision": precision,
            "max_batch": max_batch,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{model_sha256[:12]}-{precision}-b{max_batch}-{digest}"


def engine_paths(cache_dir: Path, key: str) -> tuple[Path, Path]:
    """`(<key>.engine, <key>.engine.json)` in `cache_dir`."""
    return cache_dir / f"{key}{ENGINE_SUFFIX}", cache_dir / f"{key}{MANIFEST_SUFFIX}"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never part
    (a temporary file in the same folder, flushed to disk, then renamed over `path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_manifest(path: Path, manifest: EngineManifest) -> None:
    """Write `manifest` as JSON to `path`, atomically."""
    write_atomic(path, manifest.model_dump_json(indent=2).encode() + b"\n")


def read_manifest(path: Path) -> EngineManifest:
    """The manifest at `path`. Raises ModelError when it is missing, not JSON, or has fields
    this version does not know (an engine from a newer tool is not guessed at)."""
    try:
        return EngineManifest.model_validate_json(path.read_bytes())
    except OSError as err:
        raise ModelError(f"engine manifest {path}: cannot read: {err.strerror}") from err
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in err.errors()
        )
        raise ModelError(f"engine manifest {path} is invalid: {problems}") from err


def check_engine(
    engine_path: Path, manifest: EngineManifest, *, model_sha256: str, target: EngineTarget
) -> None:
    """Refuse an engine that is not what `manifest` says, or not for this model and device.

    Raises ModelError naming every difference: the engine's bytes (tampered or truncated), the
    model it was built from, the TensorRT version, the device name or compute capability.
    """
    try:
        engine_sha256 = sha256_file(engine_path)
    except OSError as err:
        raise ModelError(f"engine {engine_path}: cannot read: {err.strerror}") from err
    problems = []
    if engine_sha256 != manifest.engine_sha256:
        problems.append(
            f"the file has sha256 {engine_sha256} but its manifest records "
            f"{manifest.engine_sha256} (altered or corrupted)"
        )
    if manifest.model_sha256 != model_sha256:
        problems.append(
            f"it was built from model sha256 {manifest.model_sha256}, not {model_sha256}"
        )
    built, here = manifest.target, target
    for field, label in [
        ("tensorrt_version", "TensorRT"),
        ("device_name", "device"),
        ("compute_capability", "compute capability"),
    ]:
        if getattr(built, field) != getattr(here, field):
            problems.append(
                f"it was built for {label} {getattr(built, field)}, this is {getattr(here, field)}"
            )
    if problems:
        raise ModelError(
            f"engine {engine_path} ({manifest.model_name}, {manifest.precision}) refused: "
            + "; ".join(problems)
        )
