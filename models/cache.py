"""Where expensive things live: `$SIGHTLINE_CACHE_DIR` (default `~/.cache/sightline`).

Layout: `downloads/<registry>/<package>-<version>/<archive>` and `models/<name>/<version>/<file>`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_CHUNK = 1 << 20


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


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
