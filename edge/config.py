"""The agent's configuration: root `EdgeConfig` and `load()`.

One YAML file plus `SIGHTLINE_EDGE_*` environment overrides (`__` between levels, `_FILE` for
secrets; see `config_loader`). Sub-settings live beside the feature that uses them: `SourceSettings`
in `sources/base.py`, `CameraSettings` in `pipelines/base.py`, detector settings in `detectors/`,
`ByteTrackSettings` in `tracking/`, `CropSettings` in `crops/`, `JournalSettings` in `journal.py`,
`DeliverySettings` in `delivery.py` (which composes the `transport/` settings),
`DeploySettings` in `deploy/agent.py`, `MetricsSettings` in `health/settings.py`. Checks here only
span features; none touch files or the network (the app does that when it builds the components).
`edge/example.yaml` documents every section.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.config_loader import load_yaml_model
from edge.crops.selector import CropSettings
from edge.delivery import DeliverySettings
from edge.deploy.agent import DeploySettings
from edge.detectors.registry import DetectorConfig
from edge.detectors.trt import TrtSettings
from edge.health.settings import MetricsSettings
from edge.journal import JournalSettings
from edge.logs import LogFormat, LogLevel
from edge.pipelines.base import CameraSettings
from edge.pipelines.python import PythonPipelineSettings
from edge.pipelines.registry import PipelineConfig
from edge.sources.base import SourceKind
from edge.tracking.bytetrack import ByteTrackSettings
from edge.tracking.registry import TrackerSettings
from sightline.names import Name


class DeviceSettings(BaseModel):
    """Who this device is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Name = Field(
        description="The device's registry id: its MQTT user name, a topic level and part of the "
        "cloud's object keys (letters, digits, _ . -; at most 64).",
    )
    site: Name = Field(default="default", description="Site of the device (a topic level).")
    hardware_profile: Literal["jetson-orin", "x86-gpu", "x86-cpu"] = Field(
        default="x86-cpu", description="Hardware class, reported in the birth message."
    )


class EdgeConfig(BaseModel):
    """Everything `python -m edge run` needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: DeviceSettings = Field(description="Identity of this device.")
    detector: DetectorConfig = Field(
        description="Object detector backend and model (type: ort | trt)."
    )
    pipeline: PipelineConfig = Field(
        default=PythonPipelineSettings(),
        description="How video becomes tracks (type: python | deepstream). deepstream needs the "
        "edge-jetson image and detector type trt.",
    )
    tracker: TrackerSettings = Field(
        default=ByteTrackSettings(), description="Multi-object tracker, one per camera."
    )
    crops: CropSettings = Field(
        default=CropSettings(), description="Which view of each track is sent, and how."
    )
    cameras: tuple[CameraSettings, ...] = Field(
        description="The cameras this device watches (at least one)."
    )
    journal: JournalSettings = Field(
        default=JournalSettings(),
        description="Tracks in progress and positions in files, so that a crash is counted and "
        "a restarted agent resumes a file where it stopped.",
    )
    delivery: DeliverySettings | None = Field(
        default=None,
        description="Outbox, MQTT and gRPC towards the cloud. null counts crops, tracks and "
        "events without keeping them (local runs).",
    )
    deploy: DeploySettings = Field(
        default=DeploySettings(),
        description="How models deployed from the cloud are verified, kept and swapped in "
        "(needs delivery.mqtt, which brings the desired state).",
    )
    metrics: MetricsSettings = Field(
        default=MetricsSettings(),
        description="Prometheus metrics and health checks over HTTP (python pipeline).",
    )
    log_level: LogLevel = Field(default="INFO", description="Least severity logged.")
    log_format: LogFormat = Field(
        default="text",
        description="text for people, json for log collectors (also SIGHTLINE_EDGE_LOG_FORMAT).",
    )

    @field_validator("cameras")
    @classmethod
    def _at_least_one(cls, cameras: tuple[CameraSettings, ...]) -> tuple[CameraSettings, ...]:
        # Not Field(min_length=1): for tuples pydantic then also reports "0 items" whenever an
        # item is invalid, a confusing second error.
        if not cameras:
            raise ValueError("at least one camera is needed")
        return cameras

    @model_validator(mode="after")
    def _check_across_features(self) -> EdgeConfig:
        repeated = [key for key, n in Counter(c.id for c in self.cameras).items() if n > 1]
        if repeated:
            raise ValueError(f"camera ids must be unique; repeated: {', '.join(repeated)}")
        if self.detector.score_threshold > self.tracker.low_score:
            raise ValueError(
                f"detector.score_threshold ({self.detector.score_threshold}) is above "
                f"tracker.low_score ({self.tracker.low_score}): the tracker would never see the "
                "weak detections that keep occluded objects' tracks alive"
            )
        if self.pipeline.type == "deepstream":
            self._check_deepstream()
        return self

    def _check_deepstream(self) -> None:
        detector = self.detector
        if not isinstance(detector, TrtSettings):
            raise ValueError("pipeline type deepstream runs the model as a TensorRT engine: "
                             "set detector.type to trt")  # fmt: skip
        if detector.max_batch < len(self.cameras):
            raise ValueError(
                f"pipeline type deepstream infers one frame of each camera per batch: "
                f"detector.max_batch ({detector.max_batch}) must be at least the number of "
                f"cameras ({len(self.cameras)})"
            )
        usb = [c.id for c in self.cameras if c.source.kind is SourceKind.USB]
        if usb:
            raise ValueError(f"pipeline type deepstream cannot open USB cameras: {usb}")
        folders = [c.id for c in self.cameras if c.source.kind is SourceKind.FOLDER]
        if folders:
            raise ValueError(f"pipeline type deepstream cannot read image folders: {folders}")
        gated = [c.id for c in self.cameras if c.motion.enabled]
        if gated:
            raise ValueError(f"pipeline type deepstream has no motion gating: cameras {gated}")


def load(path: Path, environ: Mapping[str, str] | None = None) -> EdgeConfig:
    """Parse the YAML file at `path` plus `SIGHTLINE_EDGE_*` overrides from `environ`.

    Raises ConfigError with one `file:line: key.path: message` line per problem.
    """
    return load_yaml_model(EdgeConfig, path, environ)
