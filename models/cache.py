"""Where expensive things live: `$SIGHTLINE_CACHE_DIR` (default `~/.cache/sightline`).

Layout: `downloads/<registry>/<package>-<version>/<archive>` and `models/<name>/<version>/<file>`.

Runtime code finds built models here (`resolve`, `built_model`), which check the file against
its manifest and never build: building is `models.build`'s job, which this light module must not
import (see `models.manifest`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from models.errors import ChecksumMismatchError, ModelNotBuiltError
from models.manifest import RuntimeManifest, manifest_path, read_runtime_manifest

BUILD_COMMAND = "uv run python -m models build"
"""What builds a model into the cache; error messages append the model's name."""

_CHUNK = 1 << 20

VerifyStatus = Literal["ok", "missing", "mismatch"]


def cache_root() -> Path:
    """The cache directory, read from the environment on every call."""
    configured = os.environ.get("SIGHTLINE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "sightline"


def downloads_dir(root: Path) -> Path:
    """Registry archives, kept so that a rebuild needs no network."""
    return root / "downloads"


def model_dir(root: Path, name: str, version: str) -> Path:
    """The folder holding one built model version and its extra files."""
    return root / "models" / name / version


def model_path(manifest: RuntimeManifest, root: Path | None = None) -> Path:
    """Where the built file of `manifest` lives (whether or not it exists)."""
    folder = model_dir(root or cache_root(), manifest.name, manifest.version)
    return folder / manifest.output.file


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(manifest: RuntimeManifest, root: Path | None = None) -> VerifyStatus:
    """Check the cached file of `manifest` against its sha256 without building anything."""
    target = model_path(manifest, root)
    if not target.is_file():
        return "missing"
    return "ok" if sha256_file(target) == manifest.output.sha256 else "mismatch"


def built_model(manifest: RuntimeManifest, root: Path | None = None) -> Path:
    """Path of the built, sha256-verified file of `manifest` in the cache. Never builds.

    Raises `ModelNotBuiltError` (naming the build command) when it is not in the cache and
    `ChecksumMismatchError` when the cached file was altered.
    """
    name = manifest.name
    target = model_path(manifest, root)
    status = verify(manifest, root)
    if status == "missing":
        raise ModelNotBuiltError(
            f"model {name} {manifest.version} is not built (no {target}); "
            f"build it with: {BUILD_COMMAND} {name}"
        )
    if status == "mismatch":
        raise ChecksumMismatchError(
            f"{target} does not match the sha256 in {name}.toml; rebuild it with: "
            f"{BUILD_COMMAND} {name}"
        )
    return target


def resolve(name: str, root: Path | None = None) -> Path:
    """`built_model` of the manifest `models/<name>.toml`."""
    return built_model(read_runtime_manifest(manifest_path(name)), root)


def verified_bytes(name: str, root: Path | None = None) -> bytes:
    """The bytes of the built model `models/<name>.toml`, checked against its sha256 as read.

    Checked again on the bytes read, not only by `built_model`: the file could change between
    that check and the read, and the bytes checked must be the bytes loaded. Raises like
    `built_model`, and `ChecksumMismatchError` when the file changed in between.
    """
    manifest = read_runtime_manifest(manifest_path(name))
    path = built_model(manifest, root)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest.output.sha256:
        raise ChecksumMismatchError(f"{path} changed while it was loaded; refusing it")
    return data
