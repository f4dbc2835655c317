"""Reading a manifest at run time: finding the model file, refusing tampered or unusable ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.detectors.base import ModelSettings
from edge.detectors.model import load_model_spec
from models.errors import ModelError
from tests.edge.nanodet import MANIFEST, built_model, tampered_copy

MODELS = MANIFEST.parent


def test_the_nanodet_manifest_gives_the_input_spec_and_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGHTLINE_CACHE_DIR", str(tmp_path))
    cached = tmp_path / "models" / "nanodet-g" / "1" / "nanodet-g.onnx"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not checked until read_verified")
    spec = load_model_spec(ModelSettings(manifest=MANIFEST))
    assert (spec.name, spec.version) == ("nanodet-g", "1")
    assert spec.path == cached
    assert spec.input_name == "input_1:0"
    assert spec.input_size == (416, 416)
    assert spec.color == "BGR"
    assert spec.mean == (103.53, 116.28, 123.675)
    assert len(spec.labels) == 80
    assert spec.labels[0] == "person"


def test_a_file_beside_the_manifest_wins_over_the_cache(tmp_path: Path) -> None:
    manifest = tmp_path / "nanodet-g.toml"
    shutil.copyfile(MANIFEST, manifest)
    (tmp_path / "nanodet-g.onnx").write_bytes(b"x")
    assert load_model_spec(ModelSettings(manifest=manifest)).path == tmp_path / "nanodet-g.onnx"


def test_a_missing_model_file_names_the_build_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGHTLINE_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(ModelError, match=r"python -m models build nanodet-g"):
        load_model_spec(ModelSettings(manifest=MANIFEST))


def test_a_manifest_of_another_task_is_refused() -> None:
    with pytest.raises(ModelError, match=r"does not describe a detector .* task"):
        load_model_spec(ModelSettings(manifest=MODELS / "mobilenetv2-reid.toml"))


def test_a_detector_fed_another_way_is_refused_with_each_reason(tmp_path: Path) -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    text = text.replace('resize = "letterbox"', 'resize = "stretch"').replace("[1, 3,", '["n", 3,')
    manifest = tmp_path / "nanodet-g.toml"
    manifest.write_text(text.replace('color = "BGR"\n', ""), "utf-8")
    with pytest.raises(ModelError, match=r"does not describe a detector") as refused:
        load_model_spec(ModelSettings(manifest=manifest))
    assert str(refused.value).endswith(
        "input.resize: is 'stretch', must be 'letterbox'; "
        "input.shape: is ['n', 3, 416, 416], must be [1, 3, height, width]; input.color: missing"
    )


def test_an_unknown_input_key_is_refused_but_unknown_build_keys_are_not(tmp_path: Path) -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    manifest = tmp_path / "nanodet-g.toml"
    (tmp_path / "nanodet-g.onnx").write_bytes(b"x")
    manifest.write_text(text.replace("[build]\n", "[build]\nnew_build_option = 1\n"), "utf-8")
    assert load_model_spec(ModelSettings(manifest=manifest)).name == "nanodet-g"
    manifest.write_text(text.replace("[input]\n", "[input]\nscale = 255.0\n"), "utf-8")
    with pytest.raises(ModelError, match=r"input\.scale: Extra inputs are not permitted"):
        load_model_spec(ModelSettings(manifest=manifest))


def test_a_missing_manifest_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"missing\.toml: cannot read"):
        load_model_spec(ModelSettings(manifest=tmp_path / "missing.toml"))


def test_the_real_model_passes_its_sha256_check() -> None:
    spec = load_model_spec(ModelSettings(manifest=MANIFEST, file=built_model()))
    assert spec.read_verified() == built_model().read_bytes()


def test_a_tampered_model_fails_its_sha256_check(tmp_path: Path) -> None:
    spec = load_model_spec(ModelSettings(manifest=tampered_copy(tmp_path)))
    with pytest.raises(ModelError, match=r"was altered or corrupted; refusing to load it"):
        spec.read_verified()
