"""Fixtures for the model registry: devices and a stored version (the operator key, the store
and the artifact are tests/cloud/conftest.py's)."""

from __future__ import annotations

import pytest

from cloud.deploy.models import ModelVersion
from cloud.deploy.registry import upload_model
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore import ObjectStore
from tests.cloud.deploy.uploads import upload_of
from tests.signed_models import Artifact


@pytest.fixture
def version(store: ObjectStore, artifact: Artifact) -> ModelVersion:
    """The artifact, uploaded."""
    stored, _ = upload_model(upload_of(artifact), uploaded_by="alice")
    return stored


@pytest.fixture
def devices(db: None) -> list[str]:
    for device_id, site in (("gate-01", "hq"), ("gate-02", "hq"), ("yard-01", "")):
        Device.objects.create(
            id=device_id,
            site=ensure_site(site or "default"),
            hardware_profile=HardwareProfile.X86_CPU,
        )
    return ["gate-01", "gate-02", "yard-01"]
