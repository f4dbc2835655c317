"""`python -m export engine` for real: TensorRT FP16 and INT8 engines with the parity gate.

Needs an NVIDIA GPU with TensorRT's Python bindings and pycuda (a Jetson on JetPack 6, or an x86
machine with `pip install tensorrt pycuda`), the models built (`uv run python -m models build`)
and vtest.avi (Debian's opencv-doc, or SIGHTLINE_TEST_VIDEO). Run it there with:
    uv run pytest -m gpu tests/export/test_engine_gpu.py
It is skipped where tensorrt or pycuda is missing (the lent H100 machine has neither, so
tests/gpu/run_on_device.sh does not run it). Each INT8 build calibrates on real frames or crops
and is judged against FP16 on held-out ones; the test accepts either verdict but checks that the
files on disk agree with it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from export.__main__ import main
from export.engine_build import refused_path
from export.samples import VTEST
from models.engines import read_manifest

pytestmark = pytest.mark.gpu

VIDEO = os.environ.get("SIGHTLINE_TEST_VIDEO", str(VTEST))


@pytest.mark.parametrize("model", ["mobilenetv2-reid", "nanodet-g"])
def test_fp16_then_gated_int8_engines_of_a_built_model(
    model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In the test, not the module: a run that deselects `gpu` should not even report a skip.
    pytest.importorskip("tensorrt")
    pytest.importorskip("pycuda.driver")
    assert main(["engine", model, "--cache-dir", str(tmp_path), "--video", VIDEO]) == 0
    (fp16_manifest,) = tmp_path.glob("*.engine.json")
    fp16 = read_manifest(fp16_manifest)
    assert fp16.precision == "fp16" and fp16.parity is None
    assert fp16_manifest.with_suffix("").is_file()

    code = main(["engine", model, "--precision", "int8", "--cache-dir", str(tmp_path),
                 "--video", VIDEO])  # fmt: skip

    out = capsys.readouterr()
    print(out.out)
    assert "calibration batches: 100%" in out.err
    manifests = [read_manifest(p) for p in tmp_path.glob("*.engine.json")]
    int8 = [m for m in manifests if m.precision == "int8"]
    if code == 0:
        (accepted,) = int8
        assert accepted.parity is not None and accepted.parity.passed
        assert accepted.calibration is not None and accepted.calibration.cache_sha256
    else:
        assert code == 1 and not int8 and "REFUSED" in out.out
        (report,) = tmp_path.glob("*.refused.json")
        refused = read_manifest(report)
        assert refused.parity is not None and not refused.parity.passed
        assert refused_path(report.with_name(report.name.replace(".refused", ".engine"))) == report
