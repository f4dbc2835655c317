"""The built NanoDet-g model on real footage and on the VOC ground truth its manifest quotes."""

from __future__ import annotations

from pathlib import Path

import cv2
import onnxruntime as ort
import pytest

from edge.detectors.postprocess import NANODET_OUTPUT_NAMES
from models.accuracy import VOC_DATASET, NanoDetRunner, evaluate
from models.manifest import ModelManifest, load_manifest
from tests.models.built_models import require_model, unavailable

pytestmark = pytest.mark.slow

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
BUSY_FRAME = 100  # seven pedestrians in view


@pytest.fixture(scope="module")
def manifest() -> ModelManifest:
    return load_manifest("nanodet-g")


@pytest.fixture(scope="module")
def runner(manifest: ModelManifest) -> NanoDetRunner:
    return NanoDetRunner(manifest, require_model("nanodet-g"))


def test_the_model_has_the_inputs_and_outputs_postprocess_expects(
    manifest: ModelManifest,
) -> None:
    session = ort.InferenceSession(
        str(require_model("nanodet-g")), providers=["CPUExecutionProvider"]
    )

    (model_input,) = session.get_inputs()
    assert (model_input.name, model_input.shape) == (manifest.input.name, [1, 3, 416, 416])
    expected = {name for pair in NANODET_OUTPUT_NAMES.values() for name in pair}
    assert {output.name for output in session.get_outputs()} == expected


def test_it_finds_at_least_three_people_on_a_vtest_frame(runner: NanoDetRunner) -> None:
    if not VTEST.is_file():
        unavailable(f"{VTEST} is missing: apt-get install opencv-doc")
    capture = cv2.VideoCapture(str(VTEST))
    capture.set(cv2.CAP_PROP_POS_FRAMES, BUSY_FRAME)
    ok, frame = capture.read()
    capture.release()
    assert ok

    people = [d for d in runner.detect(frame, score_threshold=0.4) if d.label == "person"]

    assert len(people) >= 3
    height, width = frame.shape[:2]
    assert all(0 <= p.x1 < p.x2 <= width and 0 <= p.y1 < p.y2 <= height for p in people)


def test_the_recorded_accuracy_is_what_the_model_measures(
    runner: NanoDetRunner, manifest: ModelManifest
) -> None:
    if not VOC_DATASET.is_dir():
        unavailable(f"{VOC_DATASET} is missing: apt-get install labelme-examples")
    recorded = manifest.accuracy
    assert recorded is not None

    score = evaluate(runner, VOC_DATASET, recorded.score_threshold, recorded.iou)

    assert score.precision == pytest.approx(recorded.precision, abs=5e-4)
    assert score.recall == pytest.approx(recorded.recall, abs=5e-4)
