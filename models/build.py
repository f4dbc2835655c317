"""Build model files into the cache from their manifests (finding built ones is `models.cache`).

`build` is idempotent: a cached file whose sha256 matches is used as is (no download, no
conversion); a cached file that does not match is rebuilt with a warning; a fresh build that does
not match its manifest is an error, since converters must be byte-deterministic. Files are built in
a temporary folder beside the target and moved in with `os.replace`, the main file last, so a
reader never sees a partial model.
"""

from __future__ import annotations

import importlib
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import cast

from models.cache import cache_root, downloads_dir, model_path, sha256_file
from models.errors import ChecksumMismatchError, ManifestError
from models.fetch import Downloader, download_with_registry_client, extract, fetch_archive
from models.manifest import RecipeManifest

logger = logging.getLogger(__name__)

Converter = Callable[[Mapping[str, Path], Path], None]


@dataclass(frozen=True)
class BuildResult:
    """Where the model is and whether this call had to build it."""

    path: Path
    built: bool
    seconds: float


def _is_current(manifest: RecipeManifest, target: Path) -> bool:
    if not target.is_file():
        return False
    digest = sha256_file(target)
    if digest != manifest.output.sha256:
        logger.warning(
            "%s: cached %s has sha256 %s, manifest expects %s; rebuilding",
            manifest.name,
            target,
            digest,
            manifest.output.sha256,
        )
        return False
    extras = [target.parent / PurePosixPath(f).name for f in manifest.output.extra_files]
    missing = [str(path) for path in extras if not path.is_file()]
    if missing:
        logger.warning("%s: cached extra files missing (%s); rebuilding", manifest.name, missing)
    return not missing


def load_converter(manifest: RecipeManifest) -> Converter:
    """The manifest's converter: "copy", or a "module:function" taking (sources, out_path)."""
    spec = manifest.build.converter
    if spec == "copy":
        # The manifest validator guarantees exactly one primary file for "copy".
        (primary,) = manifest.primary_files

        def copy(sources: Mapping[str, Path], out_path: Path) -> None:
            shutil.copyfile(sources[primary], out_path)

        return copy
    module_name, _, function_name = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as err:
        raise ManifestError(f"converter {spec!r} cannot be loaded: {err}") from err
    return cast(Converter, function)


def build(
    manifest: RecipeManifest,
    *,
    root: Path | None = None,
    download: Downloader = download_with_registry_client,
) -> BuildResult:
    """Make sure the model of `manifest` is built in the cache; return where it is.

    Raises `ChecksumMismatchError` when the archive or the fresh build differs from the manifest,
    `FetchError` when the registry client fails, `ManifestError` for a bad converter.
    """
    started = time.perf_counter()
    root = root or cache_root()
    target = model_path(manifest, root)
    if _is_current(manifest, target):
        seconds = time.perf_counter() - started
        logger.info(
            "%s %s: cached, sha256 verified in %.2fs", manifest.name, manifest.version, seconds
        )
        return BuildResult(target, built=False, seconds=seconds)
    archive = fetch_archive(manifest.source, downloads_dir(root), download)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        sources = extract(archive, manifest.source.files, work / "src")
        built = work / manifest.output.file
        converting = time.perf_counter()
        load_converter(manifest)(sources, built)
        logger.info(
            "%s: %s ran in %.1fs",
            manifest.name,
            manifest.build.converter,
            time.perf_counter() - converting,
        )
        digest = sha256_file(built)
        if digest != manifest.output.sha256:
            raise ChecksumMismatchError(
                f"{manifest.name} {manifest.version}: freshly built {manifest.output.file} has "
                f"sha256 {digest}, manifest expects {manifest.output.sha256}. The converter or its "
                "dependencies changed its bytes: fix that, or pin the new sha256 in a new version."
            )
        for extra in manifest.output.extra_files:
            sources[extra].replace(target.parent / PurePosixPath(extra).name)
        built.replace(target)
    seconds = time.perf_counter() - started
    logger.info("%s %s: built %s in %.1fs", manifest.name, manifest.version, target, seconds)
    return BuildResult(target, built=True, seconds=seconds)
