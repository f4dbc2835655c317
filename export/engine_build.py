"""`python -m export engine`: a model's TensorRT engine, FP16 or INT8 behind a parity gate.

Public surface: `EngineRequest`, `EngineOutcome`, `build`, `ProgressPrinter`, `EngineBuildError`
and `refused_path`.

FP16 is built as it is. INT8 is calibrated (`export.calibration`) on real frames and crops from
the first part of the footage, then the INT8 engine and the FP16 one (built first, or reused
from the cache) are run with `models.trt_runtime.TrtRunner` on held-out frames or crops from
the rest, and judged by `export.parity_gate`. The INT8 engine is built in a staging folder and
moved into the cache only once accepted; one that drifts past the bound is refused: deleted
with its folder, so neither the edge nor DeepStream can ever pick it up, its manifest with
`parity.passed = false` kept under `refused_path` as the report, and the command exits
non-zero. An accepted engine's manifest carries the calibration and
parity records beside the engine (`models.engines`), whoever builds it: this command or the
edge at a model swap, with the same builder (`models.trt_engine.build_engine`).
"""

from __future__ import annotations

import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from export.calibration import (
    CalibrationFeed,
    CalibrationPlan,
    cache_path,
    calibration_batches,
    make_entropy_calibrator,
)
from export.parity_gate import (
    DETECTOR_METRIC,
    EMBEDDER_METRIC,
    GateBound,
    box_agreement,
    decide,
    embedding_agreement,
)
from export.samples import VTEST, Image, Samples, frame_count, input_tensor, load_samples
from models.cache import sha256_file
from models.detection import NANODET_OUTPUT_NAMES, RawDetections, decode_nanodet, nanodet_levels
from models.engines import (
    EngineManifest,
    ParityRecord,
    check_engine,
    engine_cache_key,
    engine_paths,
    read_manifest,
    write_manifest,
)
from models.errors import ModelError
from models.manifest import RuntimeManifest
from models.trt_engine import build_engine, current_target
from models.trt_runtime import TrtRunner

logger = logging.getLogger(__name__)

Outputs = dict[str, npt.NDArray[Any]]
"""One image's outputs by name, each with a batch axis of 1."""

GATED_TASKS = ("detector", "crop-embedder")
CALIBRATION_SHARE = 0.6
"""Calibration images come from the first 60% of the footage, held-out ones from the rest."""


class EngineBuildError(Exception):
    """The engine cannot be built or judged; the message says why."""


class EngineRequest(BaseModel):
    """One engine to build (the options of `python -m export engine`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    onnx: Path = Field(description="the model file, checked against the manifest's sha256")
    manifest: RuntimeManifest = Field(description="the model's manifest (task, input)")
    precision: Literal["fp16", "int8"]
    max_batch: int = Field(ge=1, description="largest batch of the optimisation profile")
    cache_dir: Path = Field(description="where engines, manifests and calibration tables go")
    video: Path = Field(default=VTEST, description="real footage for calibration and parity")
    calibration_frames: int = Field(ge=0, description="frames calibrated on")
    calibration_crops: int = Field(ge=0, description="person crops calibrated on")
    held_out: int = Field(ge=1, description="frames (detector) or crops (embedder) judged on")
    bound: GateBound = Field(default_factory=GateBound)
    score_threshold: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Detectors: FP16 boxes below this score are not judged. INT8 boxes count "
        "down to half of it, so that a box whose score merely moved across the threshold is "
        "not counted as lost.",
    )

    @model_validator(mode="after")
    def _calibration_fits(self) -> EngineRequest:
        if self.precision == "int8":
            task = self.manifest.task
            if task not in GATED_TASKS:
                raise ValueError(
                    f"INT8 is gated for {', '.join(GATED_TASKS)}; {self.manifest.name} is a "
                    f"{task}: build it in FP16"
                )
            self.plan()  # raises ValueError for a plan that cannot fill one batch
        return self

    def plan(self) -> CalibrationPlan:
        """The calibration this request asks for, in batches of `max_batch`: TensorRT
        calibrates a dynamic-batch network at one shape, its profile's optimum, which
        `models.trt_engine` sets to the largest batch."""
        return CalibrationPlan(self.calibration_frames, self.calibration_crops, self.max_batch)


@dataclass(frozen=True)
class EngineOutcome:
    """The engine built (or refused) and where its manifest or refusal report is."""

    engine: Path | None
    manifest_path: Path
    manifest: EngineManifest

    @property
    def accepted(self) -> bool:
        """No parity record (FP16), or one that passed."""
        return self.manifest.parity is None or self.manifest.parity.passed


def refused_path(manifest_path: Path) -> Path:
    """Where a refused engine's manifest is kept: not beside any engine, so never loaded."""
    return manifest_path.with_name(manifest_path.name.replace(".engine.json", ".refused.json"))


@dataclass
class ProgressPrinter:
    """`progress(step, fraction)` for long steps: one line per step and per tenth done."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    _last: tuple[str, int] | None = None

    def __call__(self, step: str, fraction: float) -> None:
        tenth = max(0, min(10, int(fraction * 10)))
        if self._last is not None and self._last[0] == step and self._last[1] == tenth:
            return
        self._last = (step, tenth)
        self.stream.write(f"{step}: {tenth * 10}%\n")
        self.stream.flush()


def _split(request: EngineRequest) -> tuple[Samples, Samples]:
    """(calibration samples from the first part of the footage, held-out ones from the rest)."""
    frames = frame_count(request.video)
    split = int(frames * CALIBRATION_SHARE)
    detector = request.manifest.task == "detector"
    calibration = load_samples(
        request.video,
        frames=request.calibration_frames,
        crops=request.calibration_crops,
        first=0,
        stop=split,
    )
    held_out = load_samples(
        request.video,
        frames=request.held_out if detector else 0,
        crops=0 if detector else request.held_out,
        first=split,
        stop=frames,
    )
    return calibration, held_out


def _outputs(runner: TrtRunner, images: tuple[Image, ...], request: EngineRequest) -> list[Outputs]:
    """One output dict per image (each array keeps a batch axis of 1), run in engine batches."""
    spec = request.manifest.input
    results: list[Outputs] = []
    for start in range(0, len(images), runner.max_batch):
        chunk = images[start : start + runner.max_batch]
        batch = np.stack([input_tensor(image, spec) for image in chunk])
        outputs = runner.run(batch)
        results += [
            {name: out[i : i + 1] for name, out in outputs.items()} for i in range(len(chunk))
        ]
    return results


def _detections(outputs: Outputs, request: EngineRequest, threshold: float) -> RawDetections:
    height, width = request.manifest.input.shape[2], request.manifest.input.shape[3]
    scores, box_logits = nanodet_levels(outputs)
    return decode_nanodet(
        scores,
        box_logits,
        input_size=(int(width), int(height)),
        score_threshold=threshold,
        class_agnostic=True,
    )


def judge(
    reference: list[Outputs],
    candidate: list[Outputs],
    request: EngineRequest,
) -> ParityRecord:
    """The gate's record for paired per-image outputs of the FP16 and INT8 engines."""
    if request.manifest.task == "detector":
        expected = {name for pair in NANODET_OUTPUT_NAMES.values() for name in pair}
        if reference and not expected <= set(reference[0]):
            raise EngineBuildError(
                f"the detector gate decodes NanoDet outputs {sorted(expected)}; the engine has "
                f"{sorted(reference[0])}"
            )
        threshold = request.score_threshold
        fp16 = [_detections(outputs, request, threshold) for outputs in reference]
        int8 = [_detections(outputs, request, threshold / 2) for outputs in candidate]
        if not any(len(frame) for frame in fp16):
            raise EngineBuildError("the FP16 engine finds nothing in the held-out frames")
        recall, _ = box_agreement(fp16, int8)
        return decide(DETECTOR_METRIC, 1.0 - recall, request.bound.boxes_lost)
    stacked = {name: np.concatenate([o[name] for o in reference]) for name in reference[0]}
    compared = {name: np.concatenate([o[name] for o in candidate]) for name in candidate[0]}
    distance = 1.0 - embedding_agreement(stacked, compared)
    return decide(EMBEDDER_METRIC, distance, request.bound.cosine_distance)


def _cached(request: EngineRequest, model_sha256: str) -> tuple[Path, EngineManifest] | None:
    """The FP16 engine already in the cache for this model, target and batch, if sound."""
    target = current_target()
    key = engine_cache_key(model_sha256, target, "fp16", request.max_batch)
    engine, manifest_path = engine_paths(request.cache_dir, key)
    if not engine.is_file() or not manifest_path.is_file():
        return None
    try:
        manifest = read_manifest(manifest_path)
        check_engine(engine, manifest, model_sha256=model_sha256, target=target)
    except ModelError as err:
        logger.warning("rebuilding the FP16 engine: %s", err)
        return None
    return engine, manifest


def build(request: EngineRequest, progress: Callable[[str, float], None]) -> EngineOutcome:
    """Build the engine the request asks for (module docstring). Raises `EngineBuildError`
    for a model that cannot be judged and `ModelError` from the builder or the cache."""
    model_sha256 = sha256_file(request.onnx)
    if model_sha256 != request.manifest.output.sha256:
        raise EngineBuildError(
            f"{request.onnx} has sha256 {model_sha256}, the manifest of "
            f"{request.manifest.name} pins {request.manifest.output.sha256}"
        )
    name = request.manifest.name
    request.cache_dir.mkdir(parents=True, exist_ok=True)
    fp16 = _cached(request, model_sha256) if request.precision == "int8" else None
    if fp16 is None:
        fp16 = build_engine(
            request.onnx,
            request.cache_dir,
            model_name=name,
            precision="fp16",
            max_batch=request.max_batch,
            progress=progress,
        )
    if request.precision == "fp16":
        engine, manifest = fp16
        return EngineOutcome(engine, engine_paths(request.cache_dir, engine.stem)[1], manifest)
    plan = request.plan()
    calibration, held_out = _split(request)
    batches = calibration_batches(calibration.images, request.manifest.input, plan.batch_size)
    feed = CalibrationFeed(batches, cache_path(request.cache_dir, model_sha256, plan), progress)
    # Built aside and moved in only once judged: an engine in the cache with a manifest is one
    # the edge may load, and an INT8 one must never be there ungated, even if this is killed.
    with tempfile.TemporaryDirectory(dir=request.cache_dir, prefix=".int8-") as staging:
        built = build_engine(
            request.onnx,
            Path(staging),
            model_name=name,
            precision="int8",
            max_batch=request.max_batch,
            calibrator=make_entropy_calibrator(feed),
            progress=progress,
        )
        record = judge(
            _run(fp16, held_out.images, request), _run(built, held_out.images, request), request
        )
        manifest = built[1].model_copy(update={"calibration": feed.record(plan), "parity": record})
        engine, manifest_path = engine_paths(request.cache_dir, built[0].stem)
        if not record.passed:
            write_manifest(refused_path(manifest_path), manifest)
            return EngineOutcome(None, refused_path(manifest_path), manifest)
        built[0].replace(engine)
    write_manifest(manifest_path, manifest)
    return EngineOutcome(engine, manifest_path, manifest)


def _run(
    built: tuple[Path, EngineManifest], images: tuple[Image, ...], request: EngineRequest
) -> list[Outputs]:
    runner = TrtRunner(*built)
    try:
        return _outputs(runner, images, request)
    finally:
        runner.close()
