"""FakeDetector: the scripted detections, in order, behind the Detector protocol."""

from __future__ import annotations

import numpy as np
import pytest

from edge.detectors.base import Detector
from edge.detectors.fake import FakeDetector, fake_model_spec, raw_detections
from edge.detectors.preprocess import Preprocessor
from edge.geometry import Box


def test_it_returns_the_script_one_frame_per_call_then_nothing() -> None:
    first = raw_detections([(Box(1, 2, 3, 4), 0.5, 0), (Box(10, 20, 30, 40), 0.9, 1)])
    detector: Detector = FakeDetector([first, raw_detections([])])
    tensor, _ = Preprocessor(detector.spec)(np.zeros((240, 320, 3), np.uint8))
    got = detector.detect(tensor)
    assert got is first
    # Sorted by descending score, as the protocol promises.
    assert got.scores.tolist() == pytest.approx([0.9, 0.5])
    assert got.boxes.tolist() == [[10, 20, 30, 40], [1, 2, 3, 4]]
    assert got.class_ids.tolist() == [1, 0]
    assert len(detector.detect(tensor)) == 0
    assert len(detector.detect(tensor)) == 0  # past the end of the script
    assert isinstance(detector, FakeDetector) and detector.calls == 3


def test_its_spec_is_built_in_code() -> None:
    spec = fake_model_spec(labels=("cat",), input_size=(64, 48))
    assert (spec.name, spec.version, spec.labels, spec.input_size) == (
        "fake",
        "1",
        ("cat",),
        (64, 48),
    )
    assert FakeDetector([]).spec.labels == ("person", "car")


def test_it_refuses_a_tensor_that_does_not_fit_and_calls_after_close() -> None:
    detector = FakeDetector([])
    with pytest.raises(ValueError, match=r"shape \(1, 3, 240, 320\)"):
        detector.detect(np.zeros((1, 3, 416, 416), np.float32))
    detector.close()
    with pytest.raises(RuntimeError, match="after close"):
        detector.detect(np.zeros((1, 3, 240, 320), np.float32))
