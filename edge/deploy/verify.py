"""Is a downloaded model the one the operator signed? Pure checks, no I/O.

An artifact is accepted only when all hold, in this order (the first failure is the reason
reported): its size and sha256 are the desired ones; the manifest parses (the runtime view the
agent runs it by), names the desired model and pins this sha256; a signature is present, by a
key this device trusts, and verifies over `sightline.model_signature.signed_message`. So a file
altered in the store or in transit, a manifest altered to feed or label it differently, an
unsigned model or one signed by anyone but a trusted operator is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.errors import DeployRefused
from models.errors import ManifestError
from models.manifest import RuntimeManifest, parse_runtime_manifest
from sightline.model_signature import key_id, parse_public_key, signed_message


@dataclass(frozen=True, slots=True)
class Expected:
    """What the desired state says the artifact is (`DesiredCameraModel`)."""

    name: str
    version: str
    sha256: str
    size: int
    manifest: bytes
    signature: bytes
    key_id: str


def trusted_keys(public_keys: tuple[str, ...]) -> dict[str, bytes]:
    """Trusted raw public keys by key id, from their `ed25519:<base64>` texts (ValueError)."""
    raw = [parse_public_key(text) for text in public_keys]
    return {key_id(key): key for key in raw}


def verify(data: bytes, expected: Expected, trusted: Mapping[str, bytes]) -> RuntimeManifest:
    """The artifact's manifest if `data` is the signed model; DeployRefused with the reason."""
    if len(data) != expected.size:
        raise DeployRefused(
            f"artifact has {len(data)} bytes, the desired state says {expected.size}"
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected.sha256:
        raise DeployRefused(
            f"artifact sha256 {digest} differs from the desired {expected.sha256}: tampered or "
            "corrupted; refused"
        )
    manifest = _manifest(expected)
    if not expected.signature:
        raise DeployRefused("model is unsigned; refused")
    public_key = trusted.get(expected.key_id)
    if public_key is None:
        raise DeployRefused(f"model is signed by key {expected.key_id!r}, which is not trusted")
    message = signed_message(
        expected.name,
        expected.version,
        digest,
        len(data),
        hashlib.sha256(expected.manifest).hexdigest(),
    )
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(expected.signature, message)
    except InvalidSignature as err:
        raise DeployRefused(
            f"signature does not verify under key {expected.key_id}: the model or its manifest "
            "was altered after signing; refused"
        ) from err
    return manifest


def _manifest(expected: Expected) -> RuntimeManifest:
    try:
        manifest = parse_runtime_manifest(expected.manifest, "(desired state)")
    except ManifestError as err:
        raise DeployRefused(f"the model's manifest is unreadable: {err}") from err
    if (manifest.name, manifest.version) != (expected.name, expected.version):
        raise DeployRefused(
            f"the manifest describes {manifest.name} {manifest.version}, not the desired "
            f"{expected.name} {expected.version}"
        )
    if manifest.output.sha256 != expected.sha256:
        raise DeployRefused(
            f"the manifest pins sha256 {manifest.output.sha256}, not the desired {expected.sha256}"
        )
    return manifest
