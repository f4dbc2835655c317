"""`DeepStreamPipeline` end to end with stand-ins of its SDKs: tensorrt and pycuda
(`tests/models/trt_standins.py`), Gst and GLib (`gst_standins.py`) and pyds
(`pyds_standins.py`). The stand-in stream pushes real vtest frames through the two probes
the way nvinfer and nvtracker would (NanoDet output tensors from ONNX Runtime, then object ids),
so the pipeline's own code runs: engine preparation, config files, elements, properties, links,
probes, the stop and error paths, the crops that reach the sink, and the agent's deepstream run.

On a Jetson, `test_deepstream.py::test_it_tracks_the_pedestrians_of_vtest_on_a_jetson` runs the
real thing.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import onnxruntime
import pytest

from edge import app
from edge.config import EdgeConfig
from edge.crops.selector import CropSettings
from edge.delivery import CountingDelivery
from edge.detectors.base import ModelSettings
from edge.detectors.model import load_model_spec
from edge.detectors.preprocess import Preprocessor
from edge.detectors.trt import TrtSettings
from edge.errors import BackendUnavailable, SourceError
from edge.pipelines.base import CameraSettings
from edge.pipelines.deepstream.description import RGBA_CAPS
from edge.pipelines.deepstream.pipeline import DeepStreamPipeline
from edge.pipelines.deepstream.settings import DeepStreamSettings
from edge.sources.base import SourceSettings
from edge.tracking.bytetrack import ByteTrackSettings
from tests.edge.nanodet import MANIFEST, built_model, clip_frames
from tests.edge.pipelines import gst_standins, pyds_standins
from tests.edge.pipelines.gst_standins import Pipeline
from tests.edge.pipelines.pyds_standins import FrameMeta, glist_of, layer, tensor_user_meta
from tests.edge.sinks import RecordingSink
from tests.footage.clips import VTEST
from tests.models import trt_standins


@pytest.fixture(autouse=True)
def sdk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    package, driver = trt_standins.pycuda_modules()
    modules = {
        "tensorrt": trt_standins.tensorrt_module(),
        "pycuda": package,
        "pycuda.driver": driver,
        "pyds": pyds_standins.pyds_module(),
        **gst_standins.gi_modules(),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(trt_standins, "BUILD", trt_standins.BuildScript())
    monkeypatch.setattr(gst_standins, "STREAM", gst_standins.Stream())
    yield


def deepstream(tmp_path: Path, sink: RecordingSink) -> DeepStreamPipeline:
    built_model()  # skips when the model is not built
    return DeepStreamPipeline(
        [CameraSettings(id="door", source=SourceSettings(url=str(VTEST)), labels=("person",))],
        settings=DeepStreamSettings(width=768, height=576, frame_rate=10, config_dir=tmp_path),
        detector=TrtSettings(
            model=ModelSettings(manifest=MANIFEST), engine_cache=tmp_path / "engines"
        ),
        tracker=ByteTrackSettings(),
        crops=CropSettings(),
        sink=sink,
    )


def push_frames(pipeline: Pipeline, frames: list[np.ndarray]) -> None:
    """What nvstreammux, nvinfer and nvtracker would do with each frame, through the probes."""
    session = onnxruntime.InferenceSession(built_model(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    infer_pad = pipeline.elements["infer"].get_static_pad("src")
    sink_pad = pipeline.elements["sink"].get_static_pad("sink")
    (detection_probe, infer_data), (track_probe, sink_data) = infer_pad.probes + sink_pad.probes
    for index, image in enumerate(frames):
        tensor, _ = Preprocessor(load_model_spec(ModelSettings(manifest=MANIFEST)))(image)
        outputs = session.run(names, {"input_1:0": tensor})
        layers = [layer(name, array[0]) for name, array in zip(names, outputs, strict=True)]
        frame = FrameMeta(
            frame_num=index,
            buf_pts=index * 100_000_000,
            frame_user_meta_list=glist_of([tensor_user_meta(layers)]),
        )
        buffer = object()
        pyds_standins.BATCHES[hash(buffer)] = SimpleNamespace(frame_meta_list=glist_of([frame]))
        info = SimpleNamespace(get_buffer=lambda buffer=buffer: buffer)
        assert detection_probe(infer_pad, info, infer_data) == "OK"
        # nvtracker: ids for the objects the probe attached.
        for number, obj in enumerate(frame.added, start=1):
            obj.object_id = number
        frame.obj_meta_list = glist_of(frame.added)
        pyds_standins.SURFACES[(hash(buffer), 0)] = cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
        assert track_probe(sink_pad, info, sink_data) == "OK"


def test_it_builds_the_elements_runs_the_probes_and_stops_on_request(tmp_path: Path) -> None:
    sink = RecordingSink()
    pipeline = deepstream(tmp_path, sink)
    stop = threading.Event()

    def play(built: Pipeline) -> None:
        push_frames(built, clip_frames(3))
        stop.set()
        (poll,) = gst_standins.STREAM.timeouts
        assert poll() is False  # sends EOS, whose bus message ends the loop

    gst_standins.STREAM.play = play

    stats = pipeline.run(stop)["door"]

    built = gst_standins.STREAM.pipeline
    assert built is not None
    assert list(built.elements) == [
        "source-0", "mux", "infer", "tracker", "convert", "rgba", "sink",
    ]  # fmt: skip
    assert built.elements["source-0"].properties["uri"] == VTEST.resolve().as_uri()
    assert "pad-added" in built.elements["source-0"].signals
    assert built.elements["mux"].properties["batch-size"] == 1
    assert built.elements["rgba"].properties["caps"] == ("caps", RGBA_CAPS)
    chain = [built.elements[name] for name in ("mux", "infer", "tracker", "convert", "rgba")]
    assert [e.downstream.name for e in chain if e.downstream] == [
        "infer", "tracker", "convert", "rgba", "sink",
    ]  # fmt: skip
    assert (built.states, built.events) == (["PLAYING", "NULL"], ["eos"])
    nvinfer = (tmp_path / "nvinfer.txt").read_text()
    assert "network-type=100" in nvinfer
    (engine,) = (tmp_path / "engines").glob("*.engine")
    assert f"model-engine-file={engine}" in nvinfer
    assert (tmp_path / "nvtracker.yml").read_text().startswith("%YAML:1.0")
    assert stats.frames == 3 and stats.detections >= 3
    assert sink.crops and {crop.label for crop in sink.crops} == {"person"}
    assert sink.tracks[-1].ended  # the stop ended every live track


def test_the_video_pad_of_a_source_is_linked_to_its_muxer_pad(tmp_path: Path) -> None:
    pipeline = deepstream(tmp_path, RecordingSink())
    gst_standins.STREAM.play = lambda built: built.bus.post(SimpleNamespace(type="EOS"))
    pipeline.run(threading.Event())
    built = gst_standins.STREAM.pipeline
    assert built is not None
    callback, (mux_pad,) = built.elements["source-0"].signals["pad-added"]

    def pad(kind: str, memory: str) -> gst_standins.Pad:
        caps = SimpleNamespace(
            get_structure=lambda index: SimpleNamespace(get_name=lambda: kind),
            get_features=lambda index: SimpleNamespace(contains=lambda name: name == memory),
        )
        new = gst_standins.Pad(kind)
        new.get_current_caps = lambda: caps  # type: ignore[attr-defined]
        return new

    audio, system = pad("audio/x-raw", ""), pad("video/x-raw", "")
    video = pad("video/x-raw", "memory:NVMM")
    for candidate in (audio, system, video):
        callback(built.elements["source-0"], candidate, mux_pad)

    assert (audio.linked, system.linked, video.linked) == (None, None, mux_pad)


def test_a_gstreamer_error_fails_the_run_after_ending_the_tracks(tmp_path: Path) -> None:
    sink = RecordingSink()
    pipeline = deepstream(tmp_path, sink)

    def play(built: Pipeline) -> None:
        push_frames(built, clip_frames(2))
        built.bus.post(gst_standins.error_message("Resource not found."))

    gst_standins.STREAM.play = play

    with pytest.raises(SourceError, match="deepstream pipeline failed: Resource not found"):
        pipeline.run(threading.Event())
    assert sink.tracks and sink.tracks[-1].ended  # tracks seen so far were ended, not lost


def test_a_missing_deepstream_plugin_is_reported(tmp_path: Path) -> None:
    pipeline = deepstream(tmp_path, RecordingSink())
    gst_standins.STREAM.missing = {"nvtracker"}

    with pytest.raises(BackendUnavailable, match="GStreamer element nvtracker is missing"):
        pipeline.run(threading.Event())


def test_the_agent_runs_a_deepstream_config_to_a_summary(tmp_path: Path) -> None:
    built_model()  # skips when the model is not built
    config = EdgeConfig.model_validate(
        {
            "device": {"id": "jetson-1", "hardware_profile": "jetson-orin"},
            "detector": {
                "type": "trt", "model": {"manifest": str(MANIFEST)},
                "engine_cache": str(tmp_path / "engines"),
            },
            "pipeline": {"type": "deepstream", "width": 768, "height": 576},
            "cameras": [{"id": "door", "source": {"url": str(VTEST)}, "labels": ["person"]}],
            "journal": {"path": str(tmp_path / "journal.db")},
        }
    )  # fmt: skip

    def play(built: Pipeline) -> None:
        push_frames(built, clip_frames(3))
        built.bus.post(SimpleNamespace(type="EOS"))

    gst_standins.STREAM.play = play

    summary = app.run(config, delivery=CountingDelivery())

    assert (summary.frames, summary.failed_cameras, summary.exit_code) == (3, (), 0)
    assert summary.tracks >= 1 and summary.crops_queued >= 1
