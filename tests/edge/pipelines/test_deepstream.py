"""The DeepStream pipeline's pure parts, with stand-ins shaped like pyds's metadata objects.

DeepStream cannot run here. What runs: the nvinfer and nvtracker config files, the element
description, the metadata walk in and out of NvDs structures (stand-ins with the attributes
of NvDsBatchMeta, NvDsFrameMeta, NvDsObjectMeta, NvDsUserMeta, NvDsInferTensorMeta and
NvDsInferLayerInfo, fed real NanoDet outputs), the conversion of nvtracker's objects into
`TrackUpdate`s and the ledger's crops.

`test_it_tracks_the_pedestrians_of_vtest_on_a_jetson` is marked `jetson`. Run it on a Jetson
Orin with JetPack 6 and DeepStream 7.1 (the edge-jetson image), with the model built and
opencv-doc installed (vtest.avi):

    uv run python -m models build nanodet-g
    uv run pytest -m jetson tests/edge/pipelines/test_deepstream.py
"""

from __future__ import annotations

import configparser
import importlib.util
import pkgutil
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnxruntime
import pytest
import yaml

from edge import app
from edge.config import EdgeConfig
from edge.crops.selector import CropSettings
from edge.delivery import CountingDelivery
from edge.detectors.base import ModelSettings
from edge.detectors.model import ModelSpec
from edge.detectors.ort import OrtDetector
from edge.detectors.preprocess import Preprocessor
from edge.detectors.trt import TrtSettings
from edge.errors import BackendUnavailable, ConfigError
from edge.geometry import Box
from edge.pipelines.base import CameraSettings
from edge.pipelines.deepstream.description import describe, source_uri
from edge.pipelines.deepstream.meta import (
    UNTRACKED_OBJECT_ID,
    FrameObjects,
    TrackedObject,
    attach_detections,
    batch_frames,
    read_frame,
    tensor_outputs,
)
from edge.pipelines.deepstream.nvinfer import nvinfer_config, scale_factor
from edge.pipelines.deepstream.nvtracker import tracker_config
from edge.pipelines.deepstream.settings import CustomParser, DeepStreamSettings
from edge.pipelines.deepstream.updates import CameraFeed, TrackBook
from edge.pipelines.registry import PIPELINES
from edge.pipelines.tracks import TrackLedger
from edge.records import ModelRef
from edge.sources.base import SourceSettings
from edge.tracking.base import TrackState
from edge.tracking.bytetrack import ByteTrackSettings
from models.detection import letterbox_transform, to_detections
from tests.edge.nanodet import MANIFEST, built_model, clip_frames, detector_settings
from tests.edge.pipelines.pyds_standins import (
    PYDS,
    FrameMeta,
    glist_of,
    layer,
    tensor_user_meta,
)
from tests.edge.sinks import RecordingSink
from tests.footage.clips import VTEST

LABELS = ("person", "bicycle", "car")
SPEC = ModelSpec(
    name="nanodet-g",
    version="1",
    path=Path("/models/nanodet-g.onnx"),
    sha256="ab" * 32,
    input_name="input_1:0",
    input_size=(416, 416),
    color="BGR",
    mean=(103.53, 116.28, 123.675),
    std=(57.375, 57.12, 58.395),
    labels=LABELS,
)
DETECTOR = TrtSettings(model=ModelSettings(manifest=MANIFEST), score_threshold=0.2)


def camera(camera_id: str, url: str, labels: tuple[str, ...] = ()) -> CameraSettings:
    return CameraSettings(id=camera_id, source=SourceSettings(url=url), labels=labels)


def parsed(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return parser


# --- nvinfer and nvtracker config files ------------------------------------------------------


def test_nvinfer_runs_the_engine_and_hands_the_tensors_to_our_decode() -> None:
    text = nvinfer_config(
        SPEC, DETECTOR, engine_path=Path("/cache/x.engine"), precision="fp16", batch_size=2,
        gpu_id=0,
    )  # fmt: skip
    config = parsed(text)["property"]

    assert config["model-engine-file"] == "/cache/x.engine"
    assert config["onnx-file"] == "/models/nanodet-g.onnx"
    assert (config["network-type"], config["output-tensor-meta"]) == ("100", "1")
    assert config["network-mode"] == "2"
    assert config["batch-size"] == "2"
    assert config["infer-dims"] == "3;416;416"
    assert config["model-color-format"] == "1"  # BGR
    assert config["offsets"] == "103.53;116.28;123.675"
    assert float(config["net-scale-factor"]) == pytest.approx(1 / 57.63)
    assert (config["maintain-aspect-ratio"], config["symmetric-padding"]) == ("1", "1")
    assert config["num-detected-classes"] == "3"
    assert "parse-bbox-func-name" not in config
    assert "at most 1.33% off" in text


def test_fp32_and_a_compiled_parser_change_the_mode_and_let_nvinfer_cluster() -> None:
    parser = CustomParser(library=Path("/opt/lib/libnanodet.so"), function="NvDsParseNanoDet")
    config = parsed(
        nvinfer_config(
            SPEC, DETECTOR, engine_path=Path("/e"), precision="fp32", batch_size=1, gpu_id=1,
            custom_parser=parser,
        )
    )  # fmt: skip

    assert config["property"]["network-mode"] == "0"
    assert config["property"]["gpu-id"] == "1"
    assert config["property"]["network-type"] == "0"
    assert config["property"]["parse-bbox-func-name"] == "NvDsParseNanoDet"
    assert config["property"]["custom-lib-path"] == "/opt/lib/libnanodet.so"
    assert config["property"]["cluster-mode"] == "2"
    assert dict(config["class-attrs-all"]) == {
        "pre-cluster-threshold": "0.2",
        "nms-iou-threshold": "0.6",
        "topk": "100",
    }


def test_one_scale_for_three_stds_is_off_by_at_most_the_reported_error() -> None:
    scale, error = scale_factor(SPEC.std)

    worst = max(abs(scale * s - 1) for s in SPEC.std)
    assert error == pytest.approx(worst, rel=0.02)
    assert error < 0.014


def test_the_tracker_config_follows_the_agents_tracker_settings() -> None:
    tracker = ByteTrackSettings(min_hits=3, lost_track_buffer_s=2.0, low_score=0.15)

    text = tracker_config(tracker, fps=25.0)

    header, body = text.split("\n", 1)
    assert header == "%YAML:1.0"
    config = yaml.safe_load(body)
    assert config["BaseConfig"]["minDetectorConfidence"] == 0.15
    assert config["TargetManagement"]["probationAge"] == 2
    assert config["TargetManagement"]["maxShadowTrackingAge"] == 50
    assert config["DataAssociator"]["checkClassMatch"] == 1


# --- the element description -----------------------------------------------------------------


def test_the_description_batches_one_frame_per_camera_through_infer_and_tracker(
    tmp_path: Path,
) -> None:
    cameras = [camera("door", str(VTEST)), camera("yard", "rtsp://cam/stream")]

    description = describe(
        cameras, DeepStreamSettings(), nvinfer_config=tmp_path / "i.txt",
        tracker_config=tmp_path / "t.yml", jetson=False,
    )  # fmt: skip

    assert [e.factory for e in description.sources] == ["nvurisrcbin", "nvurisrcbin"]
    assert description.sources[0].properties["uri"] == VTEST.resolve().as_uri()
    assert description.sources[1].properties["uri"] == "rtsp://cam/stream"
    assert [e.factory for e in description.chain] == [
        "nvstreammux", "nvinfer", "nvtracker", "nvvideoconvert", "capsfilter", "fakesink",
    ]  # fmt: skip
    mux = description.chain[0].properties
    assert (mux["batch-size"], mux["width"], mux["height"], mux["live-source"]) == (2, 1280, 720, 1)
    assert mux["nvbuf-memory-type"] == 3  # CUDA unified: a dGPU's frames mapped from the CPU
    assert description.chain[1].properties == {"config-file-path": str(tmp_path / "i.txt")}
    assert description.chain[4].properties["caps"] == "video/x-raw(memory:NVMM), format=RGBA"
    assert (description.detection_probe, description.track_probe) == ("infer", "sink")


def test_on_a_jetson_and_with_a_compiled_parser_the_description_adapts(tmp_path: Path) -> None:
    settings = DeepStreamSettings(custom_parser=CustomParser(library=Path("/l.so"), function="f"))

    description = describe(
        [camera("door", str(VTEST))], settings, nvinfer_config=tmp_path / "i.txt",
        tracker_config=tmp_path / "t.yml", jetson=True,
    )  # fmt: skip

    assert "nvbuf-memory-type" not in description.chain[0].properties
    assert description.chain[0].properties["live-source"] == 0
    assert description.detection_probe is None


def test_usb_cameras_are_left_to_the_python_pipeline() -> None:
    with pytest.raises(ValueError, match="not USB cameras; use pipeline type python"):
        source_uri(camera("desk", "usb:0"))


# --- NvDs metadata, through stand-ins of pyds's objects --------------------------------------


def test_tensors_are_read_by_layer_name_as_copies() -> None:
    scores = np.arange(12, dtype=np.float32).reshape(4, 3)
    other = SimpleNamespace(base_meta=SimpleNamespace(meta_type="SOMETHING_ELSE"))
    frame = FrameMeta(
        frame_user_meta_list=glist_of([other, tensor_user_meta([layer("s", scores)])])
    )

    outputs = tensor_outputs(PYDS, frame)

    assert outputs is not None
    np.testing.assert_array_equal(outputs["s"], scores)
    scores[0, 0] = 99  # the buffer is reused by the next batch
    assert outputs["s"][0, 0] == 0


def test_a_frame_without_tensors_has_no_outputs_and_a_half_layer_is_refused() -> None:
    assert tensor_outputs(PYDS, FrameMeta()) is None
    half = layer("s", np.zeros((2, 2)))
    half.dataType = 1
    with pytest.raises(ValueError, match="not float32"):
        tensor_outputs(PYDS, FrameMeta(frame_user_meta_list=glist_of([tensor_user_meta([half])])))


def test_the_probe_decodes_like_the_ort_detector_and_round_trips_through_the_tracker_meta() -> None:
    """Real NanoDet outputs of a vtest frame, as nvinfer would attach them: the probe's
    detections equal the `ort` detector's on the same frame, mapped to frame pixels."""
    settings = detector_settings(threads=1, score_threshold=0.2)
    ort = OrtDetector(settings)
    session = onnxruntime.InferenceSession(built_model(), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    (image,) = clip_frames(1)
    tensor, transform = Preprocessor(ort.spec)(image)
    named = dict(zip(names, session.run(names, {ort.spec.input_name: tensor}), strict=True))
    expected = to_detections(ort.detect(tensor), transform, ort.spec.labels)
    layers = [layer(name, array[0]) for name, array in named.items()]  # without the batch axis
    frame = FrameMeta(frame_user_meta_list=glist_of([tensor_user_meta(layers)]))
    batch = SimpleNamespace(frame_meta_list=glist_of([frame]))
    height, width = image.shape[:2]
    mux = letterbox_transform((width, height), ort.spec.input_size)
    assert mux == transform

    attached = attach_detections(PYDS, batch, ort.spec, settings, mux)

    assert attached == len(expected) > 0
    assert [(o.class_id, o.obj_label, o.object_id) for o in frame.added] == [
        (d.class_id, d.label, UNTRACKED_OBJECT_ID) for d in expected
    ]
    # nvtracker takes them on: give each an id, keep one untracked (on probation).
    for number, obj in enumerate(frame.added[1:], start=7):
        obj.object_id = number
    frame.obj_meta_list = glist_of(frame.added)
    (read,) = [read_frame(PYDS, f) for f in batch_frames(PYDS, batch)]
    assert [o.object_id for o in read.objects] == list(range(7, 7 + len(expected) - 1))
    for obj, detection in zip(read.objects, expected[1:], strict=True):
        assert obj.box == pytest.approx(Box(detection.x1, detection.y1, detection.x2, detection.y2))
        assert obj.score == pytest.approx(detection.score)


# --- nvtracker objects to track updates and crops --------------------------------------------


def tracked(object_id: int, x: float = 10.0, class_id: int = 0) -> TrackedObject:
    return TrackedObject(object_id, class_id, LABELS[class_id], Box(x, 10, x + 40, 90), 0.8, 0.9)


def test_ids_become_numbered_tracks_that_are_new_updated_lost_then_ended() -> None:
    book = TrackBook(lost_frames=2, confirmed_after=1)

    first = book.update([tracked(2**40)], 5, 0.5)
    second = book.update([tracked(2**40, x=12), tracked(9)], 6, 0.6)
    missing = [book.update([tracked(9)], frame, frame / 10) for frame in (7, 8, 9)]

    assert [(u.track_number, u.state, u.age, u.hits) for u in first] == [
        (1, TrackState.NEW, 2, 2)  # one probation frame before nvtracker reported it
    ]
    assert [(u.track_number, u.state) for u in second] == [
        (1, TrackState.UPDATED), (2, TrackState.NEW),
    ]  # fmt: skip
    assert second[0].box == Box(12, 10, 52, 90)
    first_track = [[u.state for u in step if u.track_number == 1] for step in missing]
    assert first_track == [[TrackState.LOST], [TrackState.LOST], [TrackState.ENDED]]
    assert missing[0][1].box == Box(12, 10, 52, 90)  # LOST keeps the last box
    (ended,) = book.flush(9, 0.9)
    assert (ended.track_number, ended.state) == (2, TrackState.ENDED)
    assert book.flush(10, 1.0) == []


def feed_for(
    sink: RecordingSink, labels: tuple[str, ...] = (), started: datetime | None = None
) -> CameraFeed:
    ledger = TrackLedger(
        CropSettings(), camera_id="door", model=ModelRef("nanodet-g", "1"), sink=sink
    )
    return CameraFeed(
        camera("door", str(VTEST), labels),
        ledger,
        TrackBook(lost_frames=5),
        LABELS,
        started or datetime(2026, 11, 27, tzinfo=UTC),
    )


def test_a_camera_feed_hands_crops_and_summaries_to_the_sink_and_counts() -> None:
    sink = RecordingSink()
    feed = feed_for(sink, labels=("person",))
    # Texture: a flat image has no sharpness, and no view of it would be worth a crop.
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)

    for frame in range(3):
        objects = (tracked(1, x=10 + frame), tracked(2, class_id=2))  # a car: not wanted
        feed.observe(FrameObjects(0, 0, frame, frame * 40_000_000, objects), image)
    feed.finish()

    assert {crop.label for crop in sink.crops} == {"person"}
    assert [summary.ended for summary in sink.tracks][-1] is True
    assert sink.tracks[-1].first_seen == datetime(2026, 11, 27, tzinfo=UTC)
    stats = feed.stats
    assert (stats.frames, stats.detections, stats.tracked, stats.tracks) == (3, 3, 3, 1)
    assert stats.crops == len(sink.crops) > 0


def test_a_camera_asking_for_a_class_the_model_lacks_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"labels \['zebra'\]"):
        feed_for(RecordingSink(), labels=("zebra",))


# --- configuration ---------------------------------------------------------------------------


def edge_config(**changes: Any) -> dict[str, Any]:
    return {
        "device": {"id": "jetson-1"},
        "detector": {"type": "trt", "model": {"manifest": str(MANIFEST)}, "max_batch": 2},
        "pipeline": {"type": "deepstream"},
        "cameras": [{"id": "a", "source": {"url": str(VTEST)}}, {"id": "b", "source": {"url": "rtsp://b/s"}}],
    } | changes  # fmt: skip


def test_a_deepstream_config_is_accepted_and_python_stays_the_default() -> None:
    config = EdgeConfig.model_validate(edge_config())
    assert isinstance(config.pipeline, DeepStreamSettings)
    plain = edge_config(detector={"type": "ort", "model": {"manifest": str(MANIFEST)}})
    del plain["pipeline"]
    assert EdgeConfig.model_validate(plain).pipeline.type == "python"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"detector": {"type": "ort", "model": {"manifest": "m.toml"}}},
            "set detector.type to trt",
        ),
        (
            {"detector": {"type": "trt", "model": {"manifest": "m.toml"}}},
            r"max_batch \(1\) must be",
        ),
        ({"cameras": [{"id": "a", "source": {"url": "usb:0"}}]}, "cannot open USB cameras"),
        (
            {"cameras": [{"id": "a", "source": {"url": str(Path(__file__).parent)}}]},
            "cannot read image folders",
        ),
        (
            {"cameras": [{"id": "a", "source": {"url": "a.avi"}, "motion": {"enabled": True}}]},
            "has no motion gating",
        ),
        ({"pipeline": {"type": "deepstream", "nvinfer": {}}}, "Extra inputs are not permitted"),
    ],
    ids=["ort detector", "batch too small", "usb", "image folder", "motion gate", "unknown key"],
)
def test_a_deepstream_config_that_cannot_run_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        EdgeConfig.model_validate(edge_config(**changes))


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here"
)
def test_without_the_sdk_the_pipeline_is_unavailable(tmp_path: Path) -> None:
    from edge.pipelines.deepstream.pipeline import DeepStreamPipeline

    detector_settings()  # skips when the model is not built
    with pytest.raises(BackendUnavailable, match="edge-jetson or edge-cuda"):
        DeepStreamPipeline(
            [camera("a", str(VTEST))],
            settings=DeepStreamSettings(config_dir=tmp_path),
            detector=DETECTOR.model_copy(update={"engine_cache": tmp_path}),
            tracker=ByteTrackSettings(),
            crops=CropSettings(),
            sink=RecordingSink(),
        )


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here"
)
def test_the_agent_runs_a_deepstream_config_through_the_deepstream_pipeline(tmp_path: Path) -> None:
    detector_settings()  # skips when the model is not built
    config = EdgeConfig.model_validate(
        edge_config(
            detector={"type": "trt", "model": {"manifest": str(MANIFEST)}, "max_batch": 2,
                      "engine_cache": str(tmp_path)},
            journal={"path": str(tmp_path / "journal.db")},
        )
    )  # fmt: skip

    with pytest.raises(BackendUnavailable, match="detector type trt"):
        app.run(config, delivery=CountingDelivery())


@pytest.mark.jetson
def test_it_tracks_the_pedestrians_of_vtest_on_a_jetson(tmp_path: Path) -> None:
    """The whole pipeline on the device: engine built (or loaded), vtest.avi decoded on the
    GPU, NanoDet decoded in the probe, nvtracker's tracks turned into person crops."""
    from edge.pipelines.deepstream.pipeline import DeepStreamPipeline

    detector_settings()  # skips when the model is not built
    sink = RecordingSink()
    pipeline = DeepStreamPipeline(
        [camera("vtest", str(VTEST), ("person",))],
        settings=DeepStreamSettings(width=768, height=576, config_dir=tmp_path, frame_rate=10),
        detector=DETECTOR.model_copy(update={"engine_cache": tmp_path / "engines"}),
        tracker=ByteTrackSettings(),
        crops=CropSettings(),
        sink=sink,
    )

    stats = pipeline.run(threading.Event())["vtest"]

    assert stats.frames == 795
    assert stats.tracks >= 5  # several pedestrians cross the scene
    assert {crop.label for crop in sink.crops} == {"person"}
    assert all(summary.ended for summary in sink.tracks[-stats.tracks :])


def test_every_pipeline_key_resolves_without_importing_the_sdk() -> None:
    backends = {key: pkgutil.resolve_name(target) for key, target in PIPELINES.items()}

    assert [cls.__name__ for cls in backends.values()] == ["PythonPipeline", "DeepStreamPipeline"]
    assert "pyds" not in sys.modules
