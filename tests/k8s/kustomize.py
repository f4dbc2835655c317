"""kustomize, built from the Go module proxy once and cached by version.

`python3 tests/k8s/kustomize.py install` (tests/run.sh starts it in the background beside the
services) builds the binary into ``$SIGHTLINE_CACHE_DIR/bin/kustomize-<version>/``; the tests in
tests/k8s find it there. No registry ships a kustomize binary this machine can fetch, and the
Go module proxy serves its source, as it does Weaviate's (tests/services/weaviate_server.py).
Standard library only: it runs before the project's environment exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
# The newest release that Go 1.26 builds (v5.8.3's go.mod asks for Go 1.27).
VERSION = "v5.8.2"


def cache_dir() -> Path:
    """``$SIGHTLINE_CACHE_DIR``, as tests/run.sh sets it (default ``~/.cache/sightline``)."""
    return Path(os.environ.get("SIGHTLINE_CACHE_DIR") or Path.home() / ".cache" / "sightline")


def binary() -> Path:
    """Where the cached kustomize of `VERSION` lives (it may not be there yet)."""
    return cache_dir() / "bin" / f"kustomize-{VERSION}" / "kustomize"


def install() -> Path:
    """Build kustomize into the cache unless it is there; return its path."""
    target = binary()
    if target.exists():
        return target
    go = shutil.which("go") or "/usr/local/go/bin/go"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its final place and renamed, so a run that stops half-way leaves no binary
    # that looks whole, and two installs at once both end with one complete file.
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        subprocess.run(
            [go, "install", f"{MODULE}@{VERSION}"],
            env=dict(os.environ, GOBIN=scratch),
            check=True,
        )
        Path(scratch, "kustomize").replace(target)
    return target


def build(kustomization: Path) -> str:
    """Render the kustomization folder with the cached kustomize: the YAML stream it prints."""
    result = subprocess.run(
        [str(binary()), "build", str(kustomization)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kustomize build {kustomization} failed:\n{result.stderr}")
    return result.stdout


if __name__ == "__main__":
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python3 tests/k8s/kustomize.py install")
    print(install())
