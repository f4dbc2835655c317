"""The built NanoDet-g model has the interface its manifest and the NanoDet decode expect.

How well it detects is measured through the agent's own detector: tests/edge/test_accuracy.py
(the VOC figures its manifest records) and tests/edge/detectors/test_ort.py (real footage).
"""

from __future__ import annotations

import onnxruntime as ort
import pytest

from models.detection import NANODET_OUTPUT_NAMES
from models.manifest import load_manifest
from tests.models.built_models import require_model

pytestmark = pytest.mark.slow


def test_the_model_has_the_inputs_and_outputs_postprocess_expects() -> None:
    manifest = load_manifest("nanodet-g")
    session = ort.InferenceSession(
        str(require_model("nanodet-g")), providers=["CPUExecutionProvider"]
    )

    (model_input,) = session.get_inputs()
    assert (model_input.name, model_input.shape) == (manifest.input.name, [1, 3, 416, 416])
    expected = {name for pair in NANODET_OUTPUT_NAMES.values() for name in pair}
    assert {output.name for output in session.get_outputs()} == expected
