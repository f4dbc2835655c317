"""cloud.deploy.registry: only a model signed by a registered operator key is stored."""

from __future__ import annotations

import hashlib

import pytest

from cloud.deploy.models import ModelVersion
from cloud.deploy.registry import download_url, upload_model
from cloud.errors import InvalidInput
from cloud.lib.objectstore import ObjectStore
from tests.cloud.deploy.uploads import ONNX, upload_of
from tests.signed_models import Artifact, Operator, manifest_for, signed


def test_a_signed_model_is_stored_with_its_hash_signature_and_manifest(
    store: ObjectStore, artifact: Artifact
) -> None:
    version, created = upload_model(upload_of(artifact), uploaded_by="alice")
    assert created
    assert (version.name, version.version, version.size) == ("nanodet-g", "2", len(ONNX))
    assert version.sha256 == hashlib.sha256(ONNX).hexdigest()
    assert bytes(version.signature) == artifact.signature
    assert version.key_id == artifact.key_id
    assert version.manifest["labels"]["names"][0] == "person"
    assert version.object_key == f"models/nanodet-g/2/{version.sha256}.onnx"
    assert store.get(version.object_key) == ONNX


def test_uploading_the_same_model_again_changes_nothing(
    store: ObjectStore, artifact: Artifact, version: ModelVersion
) -> None:
    again, created = upload_model(upload_of(artifact), uploaded_by="bob")
    assert (again.pk, created) == (version.pk, False)


def test_a_version_never_changes_its_bytes(
    store: ObjectStore, operator: Operator, version: ModelVersion
) -> None:
    other = signed(operator, ONNX + b"x", "2")
    with pytest.raises(InvalidInput, match="exists with other contents"):
        upload_model(upload_of(other), uploaded_by="alice")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("tampered file", "the manifest pins sha256"),
        ("tampered manifest", "does not verify"),
        ("unregistered key", "not registered"),
        ("wrong key", "does not verify"),
        ("unsigned", "does not verify"),
        ("not a manifest", r"model manifest \(uploaded\)"),
    ],
)
def test_an_upload_that_does_not_verify_is_refused_and_nothing_is_stored(
    store: ObjectStore, operator: Operator, artifact: Artifact, change: str, reason: str
) -> None:
    stranger = Operator.new()
    upload = {
        "tampered file": lambda: upload_of(artifact, onnx=ONNX[:-1] + b"!"),
        "tampered manifest": lambda: upload_of(
            artifact, manifest_toml=artifact.manifest.replace(b'"person"', b'"intruder"')
        ),
        "unregistered key": lambda: upload_of(signed(stranger, ONNX, "2")),
        "wrong key": lambda: upload_of(artifact, signature=signed(stranger, ONNX, "2").signature),
        "unsigned": lambda: upload_of(artifact, signature=b""),
        "not a manifest": lambda: upload_of(artifact, manifest_toml=b"name = 3"),
    }[change]()
    with pytest.raises(InvalidInput, match=reason):
        upload_model(upload, uploaded_by="mallory")
    assert not ModelVersion.objects.exists()
    assert list(store.list("models/")) == []


def test_only_detectors_are_deployed(store: ObjectStore, operator: Operator) -> None:
    manifest = manifest_for(ONNX, "2").replace(b'task = "detector"', b'task = "crop-embedder"')
    with pytest.raises(InvalidInput, match="only detectors"):
        upload_model(
            upload_of(signed(operator, ONNX, "2"), manifest_toml=manifest), uploaded_by="a"
        )


def test_the_download_url_is_signed_absolute_and_expires(version: ModelVersion) -> None:
    url, expires_at = download_url(version)
    assert url.startswith(f"http://testserver/objects/{version.object_key}?exp=")
    assert "sig=" in url
    assert expires_at is not None
