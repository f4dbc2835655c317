"""Fixtures for the cloud's Django tests: a provisioned device and realistic detections."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from cloud import backends
from cloud.deploy.models import SigningKey
from cloud.detections.services import NewDetection
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore import ObjectStore, create_object_store
from cloud.lib.objectstore.local import LocalObjectStoreSettings
from tests.cloud.deploy.uploads import ONNX
from tests.cloud.search.data import SearchData, installed_search_data
from tests.signed_models import Artifact, Operator, signed

# A pedestrian in frame 120 of OpenCV's vtest.avi (768x576), as the edge would report it: box
# (412, 180.5)-(468, 331) in pixels, normalised as on the wire.
PEDESTRIAN = NewDetection(
    id="01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b",
    device_id="gate-01",
    camera_id="lobby",
    track_id="01935f1e-6b00-7c3d-8e4f-5a6b7c8d9e0f",
    ts=datetime(2026, 11, 21, 9, 30, 12, 400000, tzinfo=UTC),
    x_min=412.0 / 768,
    y_min=180.5 / 576,
    x_max=468.0 / 768,
    y_max=331.0 / 576,
    frame_width=768,
    frame_height=576,
    label="person",
    score=0.82,
    model_name="nanodet-g",
    model_version="1.0.0",
    # Only the SOI marker and a little data: nothing here decodes it.
    jpeg=b"\xff\xd8\xff\xe0 pedestrian",
)


@pytest.fixture
def provisioned_device(db: None) -> Device:
    """The device the sample detections come from, as an operator would provision it."""
    return Device.objects.create(
        id=PEDESTRIAN.device_id,
        name="Gate 1",
        site=ensure_site("hq"),
        hardware_profile=HardwareProfile.X86_CPU,
    )


@pytest.fixture
def make_detection() -> Callable[..., NewDetection]:
    """Build a variant of the sample pedestrian detection: `make_detection(score=0.9)`."""

    def make(**changes: Any) -> NewDetection:
        return dataclasses.replace(PEDESTRIAN, **changes)

    return make


@pytest.fixture
def objects(tmp_path: Path) -> ObjectStore:
    """A local object store in a fresh directory."""
    store = create_object_store(
        LocalObjectStoreSettings(
            type="local", root=tmp_path / "objects", url_signing_key=SecretStr("k" * 32)
        )
    )
    store.ensure_bucket()
    return store


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


@pytest.fixture
def search_data(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provisioned_device: Device,
    make_detection: Callable[..., NewDetection],
) -> Iterator[SearchData]:
    """Empty stores installed as `cloud.backends`' object store and vector store (4-d)."""
    yield from installed_search_data(tmp_path, monkeypatch, make_detection)
