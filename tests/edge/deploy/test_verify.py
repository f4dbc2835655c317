"""edge.deploy.verify: only the model a trusted operator signed passes, byte for byte."""

from __future__ import annotations

import dataclasses

import pytest

from edge.deploy.verify import Expected, trusted_keys, verify
from edge.errors import DeployRefused
from tests.signed_models import Artifact, Operator, manifest_for, signed

ONNX = b"not really onnx, but bytes are bytes" * 100


@pytest.fixture(scope="module")
def operator() -> Operator:
    return Operator.new()


@pytest.fixture(scope="module")
def artifact(operator: Operator) -> Artifact:
    return signed(operator, ONNX, "2")


def expected(artifact: Artifact, **changes: object) -> Expected:
    base = Expected(
        name=artifact.name,
        version=artifact.version,
        sha256=artifact.sha256,
        size=len(artifact.onnx),
        manifest=artifact.manifest,
        signature=artifact.signature,
        key_id=artifact.key_id,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_the_signed_model_passes_and_its_manifest_comes_back(
    operator: Operator, artifact: Artifact
) -> None:
    manifest = verify(ONNX, expected(artifact), trusted_keys((operator.public_text,)))
    assert (manifest.name, manifest.version, manifest.output.sha256) == (
        "nanodet-g",
        "2",
        artifact.sha256,
    )


def test_a_tampered_artifact_is_refused(operator: Operator, artifact: Artifact) -> None:
    tampered = bytearray(ONNX)
    tampered[100] ^= 0x01
    with pytest.raises(DeployRefused, match="tampered"):
        verify(bytes(tampered), expected(artifact), trusted_keys((operator.public_text,)))


def test_a_truncated_artifact_is_refused(operator: Operator, artifact: Artifact) -> None:
    with pytest.raises(DeployRefused, match="bytes"):
        verify(ONNX[:-1], expected(artifact), trusted_keys((operator.public_text,)))


def test_an_unsigned_model_is_refused(operator: Operator, artifact: Artifact) -> None:
    with pytest.raises(DeployRefused, match="unsigned"):
        verify(ONNX, expected(artifact, signature=b""), trusted_keys((operator.public_text,)))


def test_a_model_signed_by_an_untrusted_key_is_refused(artifact: Artifact) -> None:
    stranger = Operator.new()
    with pytest.raises(DeployRefused, match="not trusted"):
        verify(ONNX, expected(artifact), trusted_keys((stranger.public_text,)))


def test_a_signature_by_another_key_under_a_trusted_key_id_is_refused(
    operator: Operator, artifact: Artifact
) -> None:
    forged = signed(Operator.new(), ONNX, "2")
    with pytest.raises(DeployRefused, match="does not verify"):
        verify(
            ONNX,
            expected(artifact, signature=forged.signature),
            trusted_keys((operator.public_text,)),
        )


def test_a_manifest_altered_after_signing_is_refused(
    operator: Operator, artifact: Artifact
) -> None:
    altered = artifact.manifest.replace(b'"person"', b'"intruder"')
    assert altered != artifact.manifest
    with pytest.raises(DeployRefused, match="does not verify"):
        verify(ONNX, expected(artifact, manifest=altered), trusted_keys((operator.public_text,)))


def test_a_manifest_of_another_model_or_file_is_refused(
    operator: Operator, artifact: Artifact
) -> None:
    trusted = trusted_keys((operator.public_text,))
    with pytest.raises(DeployRefused, match="describes nanodet-g 3"):
        verify(ONNX, expected(artifact, manifest=manifest_for(ONNX, "3")), trusted)
    with pytest.raises(DeployRefused, match="pins sha256"):
        verify(ONNX, expected(artifact, manifest=manifest_for(b"other", "2")), trusted)
    with pytest.raises(DeployRefused, match="unreadable"):
        verify(ONNX, expected(artifact, manifest=b"\xff not toml"), trusted)


def test_a_malformed_trusted_key_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="ed25519"):
        trusted_keys(("rsa:AAAA",))
