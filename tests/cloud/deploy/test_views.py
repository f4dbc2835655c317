"""The model pages: versions and drift, the staff upload form, a device's state."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cloud.access.models import Role
from cloud.deploy.models import ModelVersion
from cloud.deploy.services import (
    ReportedCamera,
    assign_agent_image,
    assign_model,
    record_reported_state,
)
from cloud.lib.objectstore import ObjectStore
from tests.signed_models import Artifact
from tests.users import make_user


@pytest.fixture
def staff(client: Client, db: None) -> Client:
    client.force_login(make_user("ops", Role.OPERATOR))
    return client


def form(artifact: Artifact, signature: bytes | None = None) -> dict[str, object]:
    return {
        "onnx": SimpleUploadedFile("m.onnx", artifact.onnx),
        "manifest": SimpleUploadedFile("m.toml", artifact.manifest),
        "signature": base64.b64encode(
            artifact.signature if signature is None else signature
        ).decode(),
        "key_id": artifact.key_id,
    }


def test_staff_upload_a_signed_model_through_the_form(
    staff: Client, store: ObjectStore, artifact: Artifact
) -> None:
    response = staff.post("/models/upload/", form(artifact))
    assert response.status_code == 302
    version = ModelVersion.objects.get()
    assert version.uploaded_by == "ops"
    page = staff.get("/models/").content.decode()
    assert 'id="model-nanodet-g-2"' in page


def test_a_form_upload_that_does_not_verify_says_why(
    staff: Client, store: ObjectStore, artifact: Artifact
) -> None:
    response = staff.post("/models/upload/", form(artifact, signature=b"\0" * 64))
    assert response.status_code == 400
    assert "does not verify" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_only_operators_may_upload(client: Client, db: None) -> None:
    client.force_login(make_user("viewer"))
    response = client.get("/models/upload/")
    assert response.status_code == 403
    assert b"This needs the operator role." in response.content


def test_a_device_page_shows_what_it_runs_and_why_not_what_it_should(
    staff: Client, devices: list[str], version: ModelVersion
) -> None:
    assign_model(["gate-01"], version, actor="ops", reason="canary")
    record_reported_state(
        "gate-01",
        seq=3,
        generation=1,
        config_version="",
        cameras=[ReportedCamera("cam-1", "nanodet-g", "1")],
        error="artifact sha256 differs: tampered; refused",
        reported_at=datetime(2026, 11, 27, tzinfo=UTC),
        received_at=datetime(2026, 11, 27, tzinfo=UTC),
        agent_image="sightline-edge-jetson:0.1.0",
    )
    page = staff.get("/models/devices/gate-01/").content.decode()
    assert "cam-1: nanodet-g 1" in page
    assert "Agent image: sightline-edge-jetson:0.1.0" in page
    assign_agent_image(["gate-01"], "sightline-edge-jetson:0.2.0", actor="ops", reason="agent")
    page = staff.get("/models/devices/gate-01/").content.decode()
    assert "Agent image: sightline-edge-jetson:0.2.0" in page
    assert "tampered" in page
    assert "every camera: nanodet-g 2" in page
    assert staff.get("/models/devices/nope/").status_code == 404
    listing = staff.get("/models/").content.decode()
    assert 'id="drift-gate-01"' in listing
