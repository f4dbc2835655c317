"""Manifest schema: the shipped manifests load; typos and inconsistent manifests are refused by
the recipe view, while the runtime view reads past build-only keys but not past unknown input keys.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from models.errors import ManifestError, ModelError
from models.manifest import (
    MANIFEST_DIR,
    Accuracy,
    load_all,
    load_manifest,
    load_manifest_file,
    parse_runtime_manifest,
    read_runtime_manifest,
    record_accuracy,
)

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
        ('extra_files = ["toy/vocab.txt"]', 'extra_files = ["toy/vocab.txt"]\nzip = true'),
        ('dtype = "float32"', 'dtype = "float32"\n\n[labels]\nnames = ["a"]\noffset = 1'),
    ],
    ids=["top level", "source", "input", "output", "labels"],
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


def test_the_runtime_view_reads_past_build_only_and_top_level_keys(tmp_path: Path) -> None:
    text = VALID.replace('licence = "MIT"', 'licence = "MIT"\nsigned_by = "ci"')
    text = text.replace('converter = "copy"', 'converter = "copy"\nnew_build_option = 1')
    text = text.replace('extra_files = ["toy/vocab.txt"]', 'extra_files = ["x"]\nzip = true')

    manifest = read_runtime_manifest(write(tmp_path, text, name="renamed-on-the-device"))

    assert (manifest.name, manifest.output.file) == ("toy", "toy.onnx")
    assert manifest.input.shape == ("batch", 3, 64, 64)


def test_the_runtime_view_needs_no_recipe(tmp_path: Path) -> None:
    head, _, rest = VALID.partition("[source]")
    runtime_only = head.replace('licence = "MIT"\n', "") + rest[rest.index("[output]") :]

    assert read_runtime_manifest(write(tmp_path, runtime_only)).output.sha256 == "ab" * 32
    with pytest.raises(ManifestError, match=r"source: Field required"):
        load_manifest_file(write(tmp_path, runtime_only))


def test_the_runtime_view_refuses_unknown_input_keys(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('dtype = "float32"', 'dtype = "float32"\nscale = 255'))

    with pytest.raises(ManifestError, match=r"input\.scale: Extra inputs are not permitted"):
        read_runtime_manifest(path)


@pytest.mark.parametrize(
    ("text", "message"), [(None, "missing.toml: cannot read"), ("name = ", "not valid TOML")]
)
def test_an_unreadable_manifest_is_a_model_error(
    tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "missing.toml"
    if text is not None:
        path.write_text(text)

    with pytest.raises(ModelError, match=message):
        read_runtime_manifest(path)


def measured(precision: float, command: str = "c") -> Accuracy:
    return Accuracy(
        dataset="d",
        iou=0.5,
        score_threshold=0.45,
        precision=precision,
        recall=0.75,
        command=command,
    )


def test_record_replaces_only_the_accuracy_table(tmp_path: Path) -> None:
    shutil.copy(MANIFEST_DIR / "nanodet-g.toml", tmp_path)
    before = (tmp_path / "nanodet-g.toml").read_text()

    record_accuracy(tmp_path / "nanodet-g.toml", measured(0.75, command='say "hi" \\ there'))

    after = (tmp_path / "nanodet-g.toml").read_text()
    accuracy = load_manifest_file(tmp_path / "nanodet-g.toml").accuracy
    assert accuracy is not None and (accuracy.precision, accuracy.recall) == (0.75, 0.75)
    assert accuracy.command == 'say "hi" \\ there'
    assert after.split("[accuracy]")[0] == before.split("[accuracy]")[0]


def test_record_appends_a_missing_accuracy_table(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)

    record_accuracy(path, measured(0.5))

    assert path.read_text().startswith(VALID)
    recorded = load_manifest_file(path).accuracy
    assert recorded is not None and recorded.model_dump() == measured(0.5).model_dump()


def test_record_refuses_when_a_table_follows_accuracy(tmp_path: Path) -> None:
    text = (MANIFEST_DIR / "nanodet-g.toml").read_text()
    head, table = text.split("[accuracy]")
    (tmp_path / "nanodet-g.toml").write_text(f"{head}[accuracy]{table}\n[extra]\n")

    with pytest.raises(ModelError, match="must be the last table"):
        record_accuracy(tmp_path / "nanodet-g.toml", measured(1.0))


def test_a_manifest_received_as_bytes_reads_as_the_file_does() -> None:
    path = MANIFEST_DIR / "nanodet-g.toml"
    assert parse_runtime_manifest(path.read_bytes(), "upload") == read_runtime_manifest(path)


@pytest.mark.parametrize(
    ("data", "problem"),
    [(b"\xff\xfe", "not UTF-8"), (b"name = ", "not valid TOML"), (b"name = 3", "upload: ")],
)
def test_a_bad_manifest_received_as_bytes_names_its_source(data: bytes, problem: str) -> None:
    with pytest.raises(ManifestError, match=problem):
        parse_runtime_manifest(data, "upload")
