"""OrtDetector with the real NanoDet-g model on real footage (skips when the model is not built)."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detectors.base import ModelSettings
from edge.detectors.ort import OrtDetector
from edge.detectors.preprocess import Preprocessor
from edge.detectors.registry import create_detector
from models.detection import RawDetections, to_detections
from models.errors import ModelError
from tests.edge.nanodet import built_model, clip_frames, detector_settings, tampered_copy
from tests.footage.clips import VTEST
from tests.models.built_models import unavailable

PERSON = 0
BUSY_FRAME = 100  # seven pedestrians in view


@pytest.fixture(scope="module")
def detector() -> OrtDetector:
    built = create_detector(detector_settings(threads=1))
    assert isinstance(built, OrtDetector)
    return built


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return clip_frames(4)


def test_it_finds_the_pedestrians_of_vtest_in_model_input_pixels(
    detector: OrtDetector, frames: list[np.ndarray]
) -> None:
    tensor, _ = Preprocessor(detector.spec)(frames[0])
    raw = detector.detect(tensor)
    people = raw.scores[(raw.class_ids == PERSON) & (raw.scores >= 0.4)]
    # About 6 people per vtest frame were measured at a serving threshold of 0.40.
    assert 3 <= len(people) <= 12
    assert raw.scores.min() >= 0.1  # the configured score_threshold
    assert np.all(np.diff(raw.scores) <= 0)  # best first
    # Model-input pixels: inside the 416 x 416 canvas, and inside the letterboxed band
    # (768 x 576 scales to 416 x 312, padded 52 px above and below).
    assert raw.boxes.min() >= 0 and raw.boxes.max() <= 416
    assert raw.boxes[:, [1, 3]].min() >= 52 - 1 and raw.boxes[:, [1, 3]].max() <= 364 + 1


def test_it_finds_at_least_three_people_on_a_busy_vtest_frame_in_frame_pixels(
    detector: OrtDetector,
) -> None:
    if not VTEST.is_file():
        unavailable(f"{VTEST} is missing: apt-get install opencv-doc")
    capture = cv2.VideoCapture(str(VTEST))
    capture.set(cv2.CAP_PROP_POS_FRAMES, BUSY_FRAME)
    ok, frame = capture.read()
    capture.release()
    assert ok

    tensor, transform = Preprocessor(detector.spec)(frame)
    found = to_detections(detector.detect(tensor), transform, detector.spec.labels)
    people = [d for d in found if d.label == "person" and d.score >= 0.4]

    assert len(people) >= 3
    height, width = frame.shape[:2]
    assert all(0 <= p.x1 < p.x2 <= width and 0 <= p.y1 < p.y2 <= height for p in people)


def test_detect_is_safe_to_call_from_several_threads(
    detector: OrtDetector, frames: list[np.ndarray]
) -> None:
    tensors = [Preprocessor(detector.spec)(image)[0].copy() for image in frames]
    expected = [detector.detect(tensor) for tensor in tensors]
    results: dict[int, RawDetections] = {}

    def work(index: int) -> None:
        results[index] = detector.detect(tensors[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tensors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, raw in enumerate(expected):
        np.testing.assert_array_equal(results[index].boxes, raw.boxes)
        np.testing.assert_array_equal(results[index].class_ids, raw.class_ids)


def test_a_tampered_model_is_refused_before_it_is_loaded(tmp_path: Path) -> None:
    settings = detector_settings().model_copy(
        update={"model": ModelSettings(manifest=tampered_copy(tmp_path))}
    )
    with pytest.raises(ModelError, match=r"sha256 .* was altered or corrupted"):
        OrtDetector(settings)


def test_a_model_with_another_interface_is_refused(tmp_path: Path) -> None:
    # A genuine ONNX file (the reid embedder) under the detector's manifest with its sha256
    # re-pinned, so that only the interface check can stop it.
    settings = detector_settings()
    reid = built_model().parents[2] / "mobilenetv2-reid" / "1" / "mobilenetv2-reid.onnx"
    if not reid.is_file():
        pytest.skip(f"{reid} is missing: build it with `uv run python -m models build`")
    manifest = tmp_path / "nanodet-g.toml"
    pinned = settings.model.manifest.read_text(encoding="utf-8")
    digest = hashlib.sha256(reid.read_bytes()).hexdigest()
    # `^sha256`: the [output] pin, not `archive_sha256` in [source].
    repinned = re.sub(r'^sha256 = "[0-9a-f]{64}"$', f'sha256 = "{digest}"', pinned, flags=re.M)
    assert repinned != pinned
    manifest.write_text(repinned, encoding="utf-8")
    model = ModelSettings(manifest=manifest, file=reid)
    with pytest.raises(
        ModelError, match=r"do not match the manifest's input_1:0 \[1, 3, 416, 416\]"
    ):
        OrtDetector(settings.model_copy(update={"model": model}))
