"""The Debian base image, made here: no container registry is reachable from these machines.

`debootstrap --variant=minbase bookworm` from the Debian mirror this machine's apt already uses
(read from /etc/apt at run time, so no mirror host is written into the repository), imported
with `podman import` and tagged with the name the Dockerfiles' `FROM` lines use, so that they
build unchanged wherever the official image can be pulled instead. The image carries the hash of
its recipe as a label; a present image with the same hash is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.containers.podman import image_label, podman

logger = logging.getLogger(__name__)

SUITE = "bookworm"
IMAGE = "docker.io/library/debian:bookworm-slim"
"""What `FROM debian:bookworm-slim` resolves to; a local image of that name is used, not pulled."""

RECIPE_LABEL = "org.sightline.base-recipe"

# Trimmed from the root file system, as Debian's slim images do: package caches and lists
# (every Dockerfile runs `apt-get update` first), documentation, man pages and locales.
TRIM = (
    "var/cache/apt/archives/*.deb",
    "var/lib/apt/lists/*",
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
)

# Keeps later `apt-get install`s from reinstalling what TRIM removed (Debian's slim images ship
# the same kind of dpkg path excludes).
DPKG_EXCLUDES = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
"""
APT_NO_CACHE = 'APT::Keep-Downloaded-Packages "false";\n'

RECIPE = {
    "suite": SUITE,
    "variant": "minbase",
    "trim": TRIM,
    "dpkg_excludes": DPKG_EXCLUDES,
    "apt": APT_NO_CACHE,
    "cmd": "/bin/bash",
}


def recipe_hash() -> str:
    """sha256 of everything that decides the image's content (the mirror does not)."""
    return hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode()).hexdigest()[:16]


def _one_line_entries(text: str) -> Iterator[tuple[list[str], str, list[str]]]:
    # deb [options] URI SUITE COMPONENT...
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3:
            yield [words[0]], words[1], [words[2]]


def _deb822_entries(text: str) -> Iterator[tuple[list[str], str, list[str]]]:
    # Stanzas of "Key: value" lines separated by blank lines (sources.list(5), DEB822-STYLE).
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield fields.get("types", "").split(), uri, fields.get("suites", "").split()


def debian_mirror(apt_dir: Path = Path("/etc/apt"), suite: str = SUITE) -> str:
    """The first `deb` source of this machine's apt that serves `suite`, e.g. its Debian mirror.

    Reads sources.list and sources.list.d/ (one-line `.list` and deb822 `.sources` files).
    """
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        entries = _deb822_entries(text) if path.suffix == ".sources" else _one_line_entries(text)
        for types, uri, suites in entries:
            if "deb" in types and suite in suites:
                return uri
    raise LookupError(f"no apt source for Debian {suite} in {apt_dir}: cannot debootstrap")


def _debootstrap(root: Path, mirror: str) -> None:
    subprocess.run(
        ["debootstrap", "--variant=minbase", SUITE, str(root), mirror],
        check=True,
        capture_output=True,
        text=True,
    )
    for pattern in TRIM:
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    (root / "etc/dpkg/dpkg.cfg.d/sightline-slim").write_text(DPKG_EXCLUDES, encoding="utf-8")
    (root / "etc/apt/apt.conf.d/sightline-no-cache").write_text(APT_NO_CACHE, encoding="utf-8")


def ensure(force: bool = False) -> bool:
    """Make and import the base image unless one with this recipe is present; True if made."""
    wanted = recipe_hash()
    if not force and image_label(IMAGE, RECIPE_LABEL) == wanted:
        logger.info("base image %s is current (recipe %s)", IMAGE, wanted)
        return False
    mirror = debian_mirror()
    logger.info("debootstrap %s from %s", SUITE, mirror)
    with tempfile.TemporaryDirectory(prefix="sightline-base-") as tmp:
        root = Path(tmp) / "root"
        _debootstrap(root, mirror)
        archive = Path(tmp) / "root.tar"
        subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True)
        podman(
            "import",
            "--change", f"LABEL {RECIPE_LABEL}={wanted}",
            "--change", f'CMD ["{RECIPE["cmd"]}"]',
            archive,
            IMAGE,
        )  # fmt: skip
    return True
