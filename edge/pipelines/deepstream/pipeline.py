"""`DeepStreamPipeline`: every camera through one DeepStream 7.1 pipeline (GStreamer + pyds).

The only module that imports `gi` and `pyds`, inside `run`, so the rest of the agent (and its
config schema) loads without them. Set-up is pure and happens in the constructor: the engine is
found or built and checked (`edge.detectors.trt.prepared_engine`, the `trt` backend's own
path), the nvinfer and nvtracker config files are written, and the elements are described
(`description.describe`). `run` builds the elements, links them as NVIDIA's deepstream-test3
sample does (nvurisrcbin pads linked to nvstreammux's request pads as they appear), adds the two
probes and runs a GLib main loop until end of stream or `stop`.

What this pipeline does not do (the python pipeline does): frame sampling (`source.fps`; every
frame is inferred), resuming files from the journal (the journal still records tracks), USB
cameras and model swaps while running (a new model restarts the pipeline).
"""

from __future__ import annotations

import logging
import platform
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import cv2
import numpy as np

from edge.crops.selector import CropSettings
from edge.detectors.model import load_model_spec
from edge.detectors.trt import TrtSettings, engine_cache_dir, prepared_engine
from edge.errors import BackendUnavailable, SourceError
from edge.pipelines.base import CameraSettings, PipelineSink, PipelineStats, TrackJournal
from edge.pipelines.deepstream.description import describe
from edge.pipelines.deepstream.meta import attach_detections, batch_frames, read_frame
from edge.pipelines.deepstream.nvinfer import nvinfer_config
from edge.pipelines.deepstream.nvtracker import shadow_frames, tracker_config
from edge.pipelines.deepstream.settings import DeepStreamSettings
from edge.pipelines.deepstream.updates import CameraFeed, TrackBook
from edge.pipelines.tracks import TrackLedger
from edge.records import ModelRef
from edge.tracking.bytetrack import ByteTrackSettings
from models.detection import letterbox_transform
from models.engines import write_atomic

logger = logging.getLogger(__name__)

SDK_HINT = (
    "pipeline type deepstream needs DeepStream 7.1 with its Python bindings (pyds 1.2) and "
    "PyGObject: run the edge-jetson image (docker/edge-jetson)"
)


def _import_sdk() -> tuple[Any, Any, Any]:
    """(Gst, GLib, pyds), or BackendUnavailable."""
    try:
        import gi

        gi.require_version("Gst", "1.0")
        import pyds
        from gi.repository import GLib, Gst
    except (ImportError, ValueError) as err:
        raise BackendUnavailable(f"{SDK_HINT} ({err})") from err
    return Gst, GLib, pyds


class DeepStreamPipeline:
    """Runs every camera in one DeepStream pipeline and feeds each camera's `TrackLedger`."""

    def __init__(
        self,
        cameras: Sequence[CameraSettings],
        *,
        settings: DeepStreamSettings,
        detector: TrtSettings,
        tracker: ByteTrackSettings,
        crops: CropSettings,
        sink: PipelineSink,
        journals: Mapping[str, TrackJournal] | None = None,
    ) -> None:
        """Prepare the engine and the config files. Raises ModelError, BackendUnavailable (no
        TensorRT here) or ConfigError (a camera asks for a class the model lacks)."""
        self._settings = settings
        self._spec = spec = load_model_spec(detector.model)
        self._detector = detector
        engine_path, manifest, _ = prepared_engine(detector, spec)
        folder = settings.config_dir or engine_cache_dir(detector)
        infer_path, tracker_path = folder / "nvinfer.txt", folder / "nvtracker.yml"
        nvinfer = nvinfer_config(
            spec,
            detector,
            engine_path=engine_path,
            precision=manifest.precision,
            batch_size=len(cameras),
            gpu_id=settings.gpu_id,
            custom_parser=settings.custom_parser,
        )
        write_atomic(infer_path, nvinfer.encode())
        write_atomic(tracker_path, tracker_config(tracker, settings.frame_rate).encode())
        self._jetson = platform.machine() == "aarch64"
        self._description = describe(
            cameras,
            settings,
            nvinfer_config=infer_path,
            tracker_config=tracker_path,
            jetson=self._jetson,
        )
        self._transform = letterbox_transform((settings.width, settings.height), spec.input_size)
        model = ModelRef(spec.name, spec.version)
        started = datetime.now(UTC)
        journals = journals or {}
        self._feeds = [
            CameraFeed(
                camera,
                TrackLedger(
                    crops, camera_id=camera.id, model=model, sink=sink,
                    journal=journals.get(camera.id),
                ),
                TrackBook(
                    lost_frames=shadow_frames(tracker, settings.frame_rate),
                    confirmed_after=max(0, tracker.min_hits - 1),
                ),
                spec.labels,
                started,
            )
            for camera in cameras
        ]  # fmt: skip
        self._cameras = tuple(camera.id for camera in cameras)
        self._error: str | None = None

    def stats(self) -> dict[str, PipelineStats]:
        """Each camera's counters (the probe's thread updates them)."""
        return {camera: feed.stats for camera, feed in zip(self._cameras, self._feeds, strict=True)}

    def run(self, stop: threading.Event) -> dict[str, PipelineStats]:
        """Run until every source ended or `stop` is set, then end every track. Raises
        BackendUnavailable (no DeepStream here) or SourceError (GStreamer reported an error)."""
        gst, glib, pyds = _import_sdk()
        gst.init(None)
        pipeline = self._build(gst, pyds)
        loop = glib.MainLoop()
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message", self._on_message, loop, gst)

        def poll_stop() -> bool:
            if stop.is_set():
                # EOS drains what is in flight, so the last frames' tracks are kept.
                pipeline.send_event(gst.Event.new_eos())
                return False
            return True

        glib.timeout_add(200, poll_stop)
        pipeline.set_state(gst.State.PLAYING)
        try:
            loop.run()
        finally:
            pipeline.set_state(gst.State.NULL)
            for feed in self._feeds:
                feed.finish()
        if self._error is not None:
            raise SourceError(f"deepstream pipeline failed: {self._error}")
        return self.stats()

    def _build(self, gst: Any, pyds: Any) -> Any:
        pipeline = gst.Pipeline.new("sightline")
        elements = {}
        for spec in (*self._description.sources, *self._description.chain):
            element = gst.ElementFactory.make(spec.factory, spec.name)
            if element is None:
                raise BackendUnavailable(f"GStreamer element {spec.factory} is missing: {SDK_HINT}")
            for key, value in spec.properties.items():
                element.set_property(key, gst.Caps.from_string(value) if key == "caps" else value)
            pipeline.add(element)
            elements[spec.name] = element
        mux = elements["mux"]
        for index, source in enumerate(self._description.sources):
            pad = mux.request_pad_simple(f"sink_{index}")
            elements[source.name].connect("pad-added", _link_video_pad, pad)
        chain = [elements[spec.name] for spec in self._description.chain]
        for upstream, downstream in pairwise(chain):
            if not upstream.link(downstream):
                raise BackendUnavailable(
                    f"cannot link {upstream.get_name()} to {downstream.get_name()}"
                )
        probe = gst.PadProbeType.BUFFER
        if self._description.detection_probe is not None:
            pad = elements[self._description.detection_probe].get_static_pad("src")
            pad.add_probe(probe, self._detection_probe, (gst, pyds))
        pad = elements[self._description.track_probe].get_static_pad("sink")
        pad.add_probe(probe, self._track_probe, (gst, pyds))
        return pipeline

    def _detection_probe(self, pad: Any, info: Any, sdk: tuple[Any, Any]) -> Any:
        gst, pyds = sdk
        try:
            batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
            attach_detections(pyds, batch_meta, self._spec, self._detector, self._transform)
        except Exception:
            # Probe boundary: a failing batch is logged and passed on, the stream goes on.
            logger.exception("deepstream: decoding a batch failed")
        return gst.PadProbeReturn.OK

    def _track_probe(self, pad: Any, info: Any, sdk: tuple[Any, Any]) -> Any:
        gst, pyds = sdk
        try:
            buffer = info.get_buffer()
            batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(buffer))
            for frame_meta in batch_frames(pyds, batch_meta):
                frame = read_frame(pyds, frame_meta)
                surface = pyds.get_nvds_buf_surface(hash(buffer), frame.batch_id)
                # Copied out: the surface belongs to the buffer, which moves on after the probe.
                rgba = np.array(surface, dtype=np.uint8, copy=True, order="C")
                image = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR).astype(np.uint8, copy=False)
                if self._jetson:
                    pyds.unmap_nvds_buf_surface(hash(buffer), frame.batch_id)
                self._feeds[frame.source_id].observe(frame, image)
        except Exception:
            logger.exception("deepstream: reading tracked objects failed")
        return gst.PadProbeReturn.OK

    def _on_message(self, bus: Any, message: Any, loop: Any, gst: Any) -> bool:
        if message.type == gst.MessageType.EOS:
            loop.quit()
        elif message.type == gst.MessageType.ERROR:
            error, debug = message.parse_error()
            self._error = f"{error.message} ({debug})"
            loop.quit()
        elif message.type == gst.MessageType.WARNING:
            warning, debug = message.parse_warning()
            logger.warning("deepstream: %s (%s)", warning.message, debug)
        return True


def _link_video_pad(source: Any, pad: Any, mux_pad: Any) -> None:
    """nvurisrcbin adds its pads once the stream is known: link the video one (NVMM memory,
    decoded on the GPU) to the camera's muxer pad, as the deepstream-test3 sample does."""
    caps = pad.get_current_caps() or pad.query_caps(None)
    structure = caps.get_structure(0)
    if not structure.get_name().startswith("video"):
        return
    features = caps.get_features(0)
    if not features.contains("memory:NVMM"):
        logger.error("deepstream: %s decodes %s outside GPU memory", source.get_name(), caps)
        return
    pad.link(mux_pad)
