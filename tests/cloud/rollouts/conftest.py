"""A fleet of eight devices running model version 1, healthy, with version 2 uploaded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cloud.deploy.models import ModelVersion
from cloud.deploy.registry import upload_model
from cloud.deploy.services import assign_model
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore import ObjectStore
from tests.cloud.deploy.uploads import ONNX, upload_of
from tests.cloud.rollouts.reports import CPU, GPU, runs
from tests.signed_models import Operator, signed


@pytest.fixture
def fleet(db: None) -> list[str]:
    for device_id in CPU:
        Device.objects.create(
            site=ensure_site("default"), id=device_id, hardware_profile=HardwareProfile.X86_CPU
        )
    for device_id in GPU:
        Device.objects.create(
            site=ensure_site("default"), id=device_id, hardware_profile=HardwareProfile.X86_GPU
        )
    return CPU + GPU


@pytest.fixture
def old_and_new(
    store: ObjectStore, operator: Operator, fleet: list[str]
) -> tuple[ModelVersion, ModelVersion]:
    """Version 1 runs on every device, healthy, for ten minutes; version 2 is uploaded."""
    old, _ = upload_model(upload_of(signed(operator, ONNX + b"1", "1")), uploaded_by="alice")
    new, _ = upload_model(upload_of(signed(operator, ONNX + b"2", "2")), uploaded_by="alice")
    assign_model(fleet, old, actor="alice", reason="first model")
    start = timezone.now() - timedelta(minutes=10)
    for device_id in fleet:
        runs(device_id, old, start, timedelta(minutes=10))
    return old, new
