"""`python -m cloud models`: keys, signed uploads, assignments and state, with --json."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cloud.deploy.models import DesiredState, DeviceCommand, ModelVersion, SigningKey
from cloud.deploy.signing import generate_key
from cloud.lib.objectstore import ObjectStore
from tests.cloud.deploy.uploads import ONNX
from tests.signed_models import manifest_for


def run(*args: str) -> str:
    out = StringIO()
    call_command("models", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def files(tmp_path: Path, store: ObjectStore, db: None) -> dict[str, Path]:
    key = tmp_path / "operator.pem"
    assert "key id" in run("keygen", "--out", str(key), "--label", "ops")
    onnx, manifest = tmp_path / "m.onnx", tmp_path / "m.toml"
    onnx.write_bytes(ONNX)
    manifest.write_bytes(manifest_for(ONNX, "2"))
    return {"key": key, "onnx": onnx, "manifest": manifest}


def test_keygen_writes_a_private_key_for_its_owner_only_and_registers_the_public_one(
    files: dict[str, Path],
) -> None:
    assert files["key"].stat().st_mode & 0o777 == 0o600
    assert SigningKey.objects.get().label == "ops"
    with pytest.raises(CommandError, match="exists"):
        run("keygen", "--out", str(files["key"]))


def test_upload_signs_verifies_and_stores_then_lists_and_shows(files: dict[str, Path]) -> None:
    args = ["--onnx", str(files["onnx"]), "--manifest", str(files["manifest"])]
    uploaded = json.loads(run("upload", *args, "--key", str(files["key"]), "--json"))
    assert (uploaded["name"], uploaded["version"], uploaded["created"]) == ("nanodet-g", "2", True)
    assert uploaded["key_id"] == SigningKey.objects.get().key_id
    (listed,) = json.loads(run("list", "--json"))
    assert listed["sha256"] == uploaded["sha256"]
    shown = json.loads(run("show", "nanodet-g", "2", "--json"))
    assert shown["manifest"]["version"] == "2"
    with pytest.raises(CommandError, match="not in the registry"):
        run("show", "nanodet-g", "9")


def test_a_key_that_is_not_registered_cannot_upload(files: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    generate_key(other)  # made, never registered
    args = ["--onnx", str(files["onnx"]), "--manifest", str(files["manifest"])]
    with pytest.raises(CommandError, match="not registered"):
        run("upload", *args, "--key", str(other))
    assert not ModelVersion.objects.exists()


def test_assign_status_drift_and_republish(files: dict[str, Path], devices: list[str]) -> None:
    args = ["--onnx", str(files["onnx"]), "--manifest", str(files["manifest"])]
    run("upload", *args, "--key", str(files["key"]))
    assigned = json.loads(
        run("assign", "nanodet-g", "2", "--device", "gate-01", "--reason", "canary", "--json")
    )
    assert assigned == {"gate-01": 1}
    status = json.loads(run("status", "--device", "gate-01", "--json"))
    assert status["drift"] == "unpublished"
    assert status["desired"]["cameras"] == {"*": "nanodet-g 2"}
    assert status["reported"] is None
    (drifting,) = json.loads(run("drift", "--json"))
    assert drifting["device"] == "gate-01"
    DesiredState.objects.update(published_generation=1)
    assert "1 desired state" in run("republish", "--device", "gate-01")
    assert DesiredState.objects.get().published_generation == 0
    with pytest.raises(CommandError, match="unknown devices: nope"):
        run("assign", "nanodet-g", "2", "--device", "nope", "--reason", "r")


def test_refresh_queues_a_report_state_command_per_device(devices: list[str]) -> None:
    queued = json.loads(run("refresh", "--device", "gate-01", "--device", "gate-02", "--json"))
    assert set(queued) == {"gate-01", "gate-02"}
    assert set(DeviceCommand.objects.values_list("name", flat=True)) == {"report_state"}
