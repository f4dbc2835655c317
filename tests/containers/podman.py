"""Run podman with the project's own settings (docker/podman/containers.conf).

The machine's /etc/containers files are never read or written: `CONTAINERS_CONF` points podman
at the project's file, which replaces the system one for every podman and buildah call made here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = REPO / "docker" / "podman" / "containers.conf"


class PodmanError(RuntimeError):
    """A podman command failed; the message carries the tail of its output."""


def available() -> bool:
    """Whether podman is installed and can be run."""
    return shutil.which("podman") is not None


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with CONTAINERS_CONF set to the project's."""
    return {**(os.environ if base is None else base), "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(
    *args: str | Path,
    check: bool = True,
    timeout: float | None = None,
    stdin: str | None = None,
    cwd: Path = REPO,
    capture: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run `podman ARGS` with the project's settings; raise `PodmanError` on failure if `check`."""
    return run(
        ["podman", *args], check=check, timeout=timeout, stdin=stdin, cwd=cwd, capture=capture
    )


def run(
    argv: Sequence[str | Path],
    *,
    check: bool = True,
    timeout: float | None = None,
    stdin: str | None = None,
    cwd: Path = REPO,
    capture: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a container tool (podman, podman-compose) with CONTAINERS_CONF set."""
    result = subprocess.run(
        [str(arg) for arg in argv],
        env=environment(env),
        cwd=cwd,
        input=stdin,
        capture_output=capture,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or ""))[-4000:]
        raise PodmanError(f"{' '.join(map(str, argv))} exited {result.returncode}:\n{output}")
    return result


def image_label(image: str, key: str) -> str | None:
    """The value of label `key` on local image `image`; None if the image or label is missing."""
    result = podman("image", "inspect", "--format", "{{json .Labels}}", image, check=False)
    if result.returncode != 0:
        return None
    labels = json.loads(result.stdout.strip() or "null") or {}
    value = labels.get(key)
    return str(value) if value is not None else None
