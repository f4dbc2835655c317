"""The committed generated code matches its .proto sources, and the check notices when not."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from sightline.ingest.v1 import ingest_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTOS = REPO_ROOT / "protos"


def run_generate(protos_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``generate.py`` of a protos tree the way a developer or CI does."""
    return subprocess.run(
        [sys.executable, str(protos_dir / "generate.py"), *args],
        cwd=protos_dir.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def protos_copy(tmp_path: Path) -> Path:
    """A private copy of protos/ (sources, generated code and generate.py) to break on purpose."""
    copy = tmp_path / "protos"
    shutil.copytree(PROTOS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_committed_generated_code_is_current() -> None:
    result = run_generate(PROTOS, "--check")
    assert result.returncode == 0, (
        "generated code is stale: run `uv run python protos/generate.py`\n"
        f"{result.stdout}{result.stderr}"
    )


def test_check_fails_when_a_proto_changed_and_passes_after_regenerating(protos_copy: Path) -> None:
    model_proto = protos_copy / "sightline/common/v1/model.proto"
    model_proto.write_text(model_proto.read_text() + "\nmessage Extra {\n  string note = 1;\n}\n")

    stale = run_generate(protos_copy, "--check")
    assert stale.returncode == 1
    assert "stale: sightline/common/v1/model_pb2.py" in stale.stdout
    assert "+class Extra(_message.Message):" in stale.stdout

    assert run_generate(protos_copy).returncode == 0
    regenerated = run_generate(protos_copy, "--check")
    assert regenerated.returncode == 0, regenerated.stdout + regenerated.stderr


def test_check_fails_when_generated_code_outlives_its_proto(protos_copy: Path) -> None:
    # A proto that no other imports, so that protoc still compiles the rest.
    (protos_copy / "sightline/device/v1/command.proto").unlink()

    result = run_generate(protos_copy, "--check")

    assert result.returncode == 1
    assert "delete it): sightline/device/v1/command_pb2.py" in result.stdout
    assert "delete it): sightline/device/v1/command_pb2.pyi" in result.stdout


def declared_floor(distribution: str) -> Version:
    """The ``>=`` lower bound pyproject.toml declares for a runtime dependency."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    (requirement,) = [req for req in requirements if req.name == distribution]
    (floor,) = [spec.version for spec in requirement.specifier if spec.operator == ">="]
    return Version(floor)


def test_declared_runtime_floors_can_import_the_generated_code() -> None:
    # Generated modules refuse to import on runtimes older than the generator, so the project's
    # lower bounds must follow every bump of the grpcio-tools pin.
    header = (PROTOS / "sightline/ingest/v1/ingest_pb2.py").read_text()
    protobuf_gen = re.search(r"^# Protobuf Python Version: (\S+)$", header, re.MULTILINE)
    assert protobuf_gen is not None

    assert declared_floor("protobuf") >= Version(protobuf_gen.group(1))
    assert declared_floor("grpcio") >= Version(ingest_pb2_grpc.GRPC_GENERATED_VERSION)
