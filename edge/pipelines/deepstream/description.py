"""Which GStreamer elements the DeepStream pipeline is made of, with which properties, and how
they link: pure data that `pipeline.py` turns into elements.

    nvurisrcbin (one per camera) -> nvstreammux -> nvinfer -> nvtracker
        -> nvvideoconvert -> capsfilter (RGBA) -> fakesink

Probes: after nvinfer (decode the output tensors into objects, unless a compiled parser does
it) and before the sink (tracked objects and the frame's pixels into the track ledger). The
frames are converted to RGBA because that is the format `pyds.get_nvds_buf_surface` maps; on a
dGPU the buffers must be CUDA unified memory to be mapped from the CPU (Jetson's default
surfaces already are), as NVIDIA's deepstream-imagedata-multistream sample sets up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge.pipelines.base import CameraSettings
from edge.pipelines.deepstream.settings import DeepStreamSettings
from edge.sources.base import SourceKind

NVBUF_MEM_CUDA_UNIFIED = 3
RGBA_CAPS = "video/x-raw(memory:NVMM), format=RGBA"
INFER = "infer"
SINK = "sink"


@dataclass(frozen=True, slots=True)
class Element:
    """One element: its factory, its name in the pipeline, the properties to set."""

    factory: str
    name: str
    properties: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PipelineDescription:
    """The sources (each linked to the muxer's `sink_<index>` pad) and the chain after them."""

    sources: tuple[Element, ...]
    chain: tuple[Element, ...]
    detection_probe: str | None
    """The element whose src pad decodes output tensors (None: a compiled parser does)."""
    track_probe: str
    """The element whose sink pad reads tracked objects and pixels."""


def source_uri(camera: CameraSettings) -> str:
    """The URI nvurisrcbin opens for a camera. Raises ValueError for a USB camera, which
    nvurisrcbin cannot open (run those cameras on the python pipeline)."""
    source = camera.source
    if source.kind is SourceKind.USB:
        raise ValueError(
            f"camera {camera.id}: the deepstream pipeline opens files and streams, not USB "
            "cameras; use pipeline type python for it"
        )
    if source.kind is SourceKind.STREAM:
        return source.url
    return Path(source.url).resolve().as_uri()


def describe(
    cameras: Sequence[CameraSettings],
    settings: DeepStreamSettings,
    *,
    nvinfer_config: Path,
    tracker_config: Path,
    jetson: bool,
) -> PipelineDescription:
    """The pipeline for `cameras` (batch = one frame of each). `jetson`: an integrated GPU,
    whose default buffers the CPU can map; a dGPU needs CUDA unified memory for that."""
    live = any(camera.source.kind is SourceKind.STREAM for camera in cameras)
    memory = {} if jetson else {"nvbuf-memory-type": NVBUF_MEM_CUDA_UNIFIED}
    gpu = {"gpu-id": settings.gpu_id}
    sources = tuple(
        Element(
            "nvurisrcbin",
            f"source-{index}",
            {"uri": source_uri(camera), **gpu}
            | ({"rtsp-reconnect-interval": 10} if camera.source.kind is SourceKind.STREAM else {}),
        )
        for index, camera in enumerate(cameras)
    )
    chain = (
        Element(
            "nvstreammux",
            "mux",
            {
                "batch-size": len(cameras),
                "width": settings.width,
                "height": settings.height,
                "batched-push-timeout": settings.batched_push_timeout_us,
                "live-source": int(live),
                **gpu,
                **memory,
            },
        ),
        Element("nvinfer", INFER, {"config-file-path": str(nvinfer_config)}),
        Element(
            "nvtracker",
            "tracker",
            {
                "ll-lib-file": str(settings.tracker_library),
                "ll-config-file": str(tracker_config),
                "tracker-width": settings.tracker_width,
                "tracker-height": settings.tracker_height,
                **gpu,
            },
        ),
        Element("nvvideoconvert", "convert", {**gpu, **memory}),
        Element("capsfilter", "rgba", {"caps": RGBA_CAPS}),
        # Not synchronised to the clock: files run as fast as the GPU goes, live sources at
        # their own pace.
        Element("fakesink", SINK, {"sync": False}),
    )
    return PipelineDescription(
        sources=sources,
        chain=chain,
        detection_probe=INFER if settings.custom_parser is None else None,
        track_probe=SINK,
    )
