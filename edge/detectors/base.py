"""The detector contract: `DetectorSettings` (shared by every backend) and `Detector`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field

from models.detection import FloatArray, RawDetections

if TYPE_CHECKING:
    from edge.detectors.model import ModelSpec


class ModelSettings(BaseModel):
    """Which model a detector runs: a manifest and, optionally, where its file is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest: Path = Field(
        description="The model's manifest TOML (models/<name>.toml): it pins the file's sha256 "
        "and gives the input spec and labels. Relative paths are relative to the working "
        "directory."
    )
    file: Path | None = Field(
        default=None,
        description="The model file. null looks beside the manifest, then in "
        "$SIGHTLINE_CACHE_DIR/models/<name>/<version>/ (where `python -m models build` puts it).",
    )


class DetectorSettings(BaseModel):
    """Settings every detector backend has; each backend subclasses it with its `type` key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="Detector backend key (see edge/detectors/registry.py).")
    model: ModelSettings = Field(description="The model to run.")
    score_threshold: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description="Lowest score passed on. Keep it at or below tracker.low_score: the tracker "
        "uses weak detections to keep occluded objects' tracks alive.",
    )
    iou_threshold: float = Field(
        default=0.6, gt=0, le=1, description="Non-maximum suppression IoU threshold."
    )
    class_agnostic: bool = Field(
        default=True,
        description="Suppress overlapping boxes across classes, so one object gets one label "
        "(not car and truck).",
    )
    max_detections: int = Field(default=100, ge=1, description="Most detections per frame.")


class Detector(Protocol):
    """Runs a model on preprocessed tensors.

    Input: the float32 tensor described by `spec` (`[1, 3, height, width]`, normalised and in the
    channel order the model expects), as `edge.detectors.preprocess.Preprocessor` makes it.

    Output: `RawDetections` in model-input pixel coordinates (the letterboxed canvas, `x1, y1, x2,
    y2`), scores in [0, 1] at or above the configured threshold, sorted by descending score, after
    NMS. Mapping to frame pixels is the caller's job (`LetterboxTransform.to_frame`).

    Errors: construction raises `models.errors.ModelError` (missing, tampered or unusable model) or
    `BackendUnavailable` (runtime not installed). `detect` raises nothing on purpose.

    Thread-safety: `detect` may be called from several camera threads at once.
    """

    @property
    def spec(self) -> ModelSpec:
        """The model being run: input size and normalisation, labels, name and version."""

    def detect(self, tensor: FloatArray) -> RawDetections:
        """Detections for one preprocessed frame, in model-input pixels."""

    def close(self) -> None:
        """Release the runtime's resources; `detect` must not be called afterwards."""
