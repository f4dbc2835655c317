"""Manifest schema: the shipped manifests load; typos and inconsistent manifests are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from models.errors import ManifestError
from models.manifest import load_all, load_manifest, load_manifest_file

VALID = """\
name = "toy"
version = "1"
task = "face-detector"
licence = "MIT"

[source]
registry = "pypi"
package = "toy"
version = "0.1"
archive_sha256 = "{sha}"
files = ["toy/model.onnx", "toy/vocab.txt"]

[build]
converter = "copy"

[output]
file = "toy.onnx"
sha256 = "{sha}"
extra_files = ["toy/vocab.txt"]

[input]
name = "input"
shape = ["batch", 3, 64, 64]
dtype = "float32"
""".replace("{sha}", "ab" * 32)


def write(tmp_path: Path, text: str, name: str = "toy") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_every_shipped_manifest_loads() -> None:
    names = {manifest.name for manifest in load_all()}

    assert {"nanodet-g", "yunet", "sface"} <= names


def test_the_detector_manifest_pins_its_contract() -> None:
    manifest = load_manifest("nanodet-g")

    assert manifest.labels is not None and len(manifest.labels.names) == 80
    assert manifest.labels.names[:3] == ("person", "bicycle", "car")
    assert manifest.input.shape == (1, 3, 416, 416)
    assert (manifest.input.color, manifest.input.resize) == ("BGR", "letterbox")


def test_a_valid_manifest_loads(tmp_path: Path) -> None:
    manifest = load_manifest_file(write(tmp_path, VALID))

    assert manifest.primary_files == ("toy/model.onnx",)
    assert manifest.input.shape == ("batch", 3, 64, 64)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('licence = "MIT"', 'licence = "MIT"\nlicense = "MIT"'),
        ('registry = "pypi"', 'registry = "pypi"\nsha256 = "x"'),
        ('dtype = "float32"', 'dtype = "float32"\nscale = 255'),
    ],
    ids=["top level", "source", "input"],
)
def test_it_rejects_unknown_keys(tmp_path: Path, before: str, after: str) -> None:
    path = write(tmp_path, VALID.replace(before, after))

    with pytest.raises(ManifestError, match="Extra inputs are not permitted"):
        load_manifest_file(path)


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ('files = ["toy/model.onnx", "toy/vocab.txt"]', 'files = ["../model.onnx"]', "relative"),
        (f'sha256 = "{"ab" * 32}"', 'sha256 = "ABC"', "sha256"),
        ('converter = "copy"', 'converter = "export/x.py"', "converter"),
        ('extra_files = ["toy/vocab.txt"]', "extra_files = []", "exactly one source file"),
        ('extra_files = ["toy/vocab.txt"]', 'extra_files = ["toy/other.txt"]', "not in source"),
        ('task = "face-detector"', 'task = "detector"', "needs \\[labels\\]"),
        ("shape = [", "shape = [0, ", "shape"),
    ],
    ids=["path escapes", "bad digest", "bad converter", "copy of two", "extra", "labels", "dim"],
)
def test_it_rejects_inconsistent_manifests(
    tmp_path: Path, before: str, after: str, message: str
) -> None:
    assert before in VALID
    path = write(tmp_path, VALID.replace(before, after))

    with pytest.raises(ManifestError, match=message):
        load_manifest_file(path)


def test_the_name_must_match_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, VALID, name="other")

    with pytest.raises(ManifestError, match="differs from the file name"):
        load_manifest_file(path)


def test_an_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    write(tmp_path, VALID)

    with pytest.raises(ManifestError, match="known: toy"):
        load_manifest("nope", tmp_path)


def test_manifests_are_frozen() -> None:
    manifest = load_manifest("nanodet-g")

    with pytest.raises(ValidationError):
        manifest.version = "2"
