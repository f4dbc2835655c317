"""Fixtures for the model registry: an operator whose key the cloud trusts, a local object
store behind `cloud.backends`, devices, and signed artifacts."""

from __future__ import annotations

from typing import Any

import pytest

from cloud import backends
from cloud.deploy.models import ModelVersion, SigningKey
from cloud.deploy.registry import Upload, upload_model
from cloud.fleet.models import Device, HardwareProfile
from cloud.lib.objectstore import ObjectStore
from tests.signed_models import Artifact, Operator, signed

ONNX = b"\x08\x07 model bytes for the registry tests" * 64


@pytest.fixture
def store(objects: ObjectStore, monkeypatch: pytest.MonkeyPatch, settings: Any) -> ObjectStore:
    """The local object store as the process's store; devices reach the app at testserver."""
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    settings.DEPLOY = {"url_lifetime_s": 3600, "public_url": "http://testserver"}
    return objects


@pytest.fixture
def operator(db: None) -> Operator:
    """An operator whose public key is registered."""
    key = Operator.new()
    SigningKey.objects.create(key_id=key.key_id, public_key=key.public_text, label="test")
    return key


@pytest.fixture
def artifact(operator: Operator) -> Artifact:
    return signed(operator, ONNX, "2")


def upload_of(artifact: Artifact, **changes: Any) -> Upload:
    fields = {
        "onnx": artifact.onnx,
        "manifest_toml": artifact.manifest,
        "signature": artifact.signature,
        "key_id": artifact.key_id,
        **changes,
    }
    return Upload(**fields)


@pytest.fixture
def version(store: ObjectStore, artifact: Artifact) -> ModelVersion:
    """The artifact, uploaded."""
    stored, _ = upload_model(upload_of(artifact), uploaded_by="alice")
    return stored


@pytest.fixture
def devices(db: None) -> list[str]:
    for device_id, site in (("gate-01", "hq"), ("gate-02", "hq"), ("yard-01", "")):
        Device.objects.create(id=device_id, site=site, hardware_profile=HardwareProfile.X86_CPU)
    return ["gate-01", "gate-02", "yard-01"]
