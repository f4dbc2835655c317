"""`DeepStreamSettings`: the `pipeline: {type: deepstream}` section of the agent's config."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEEPSTREAM_ROOT = Path("/opt/nvidia/deepstream/deepstream")
"""Where NVIDIA's DeepStream images install the SDK."""


class CustomParser(BaseModel):
    """A compiled nvinfer bounding-box parser (C++), for models whose outputs nvinfer can turn
    into objects itself. Without one, nvinfer attaches the raw output tensors and the agent
    decodes them in Python with the same NanoDet decode the other backends use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    library: Path = Field(description="The shared library (custom-lib-path).")
    function: str = Field(description="Its parse function (parse-bbox-func-name).")


class DeepStreamSettings(BaseModel):
    """NVIDIA DeepStream: decode, inference (nvinfer) and tracking (nvtracker) on the GPU."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["deepstream"] = Field(default="deepstream", description="Pipeline backend key.")
    width: int = Field(
        default=1280,
        ge=64,
        description="Width every camera is scaled to in the batch (nvstreammux); boxes and "
        "crops are in these pixels.",
    )
    height: int = Field(default=720, ge=64, description="Height of the batch (nvstreammux).")
    batched_push_timeout_us: int = Field(
        default=40_000,
        ge=0,
        description="How long nvstreammux waits to fill a batch before pushing what it has.",
    )
    frame_rate: float = Field(
        default=25.0,
        gt=0,
        description="Frames per second the cameras deliver (every frame is inferred): turns the "
        "tracker's lost_track_buffer_s into nvtracker's frames.",
    )
    gpu_id: int = Field(default=0, ge=0, description="CUDA device of every element.")
    tracker_library: Path = Field(
        default=DEEPSTREAM_ROOT / "lib" / "libnvds_nvmultiobjecttracker.so",
        description="nvtracker's low-level library (NvMultiObjectTracker).",
    )
    tracker_width: int = Field(default=640, ge=32, description="nvtracker's working width.")
    tracker_height: int = Field(default=384, ge=32, description="nvtracker's working height.")
    custom_parser: CustomParser | None = Field(
        default=None,
        description="A compiled bbox parser; null decodes the output tensors in Python "
        "(output-tensor-meta), which needs no C++.",
    )
    config_dir: Path | None = Field(
        default=None,
        description="Where the generated nvinfer and nvtracker config files are written. null: "
        "the detector's engine cache.",
    )
