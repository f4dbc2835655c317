"""Signed model artifacts for tests: an operator key, a manifest for given bytes, the signature
as `python -m cloud models upload` makes it (`sightline.model_signature`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sightline.model_signature import format_public_key, key_id, signed_message

NANODET_MANIFEST = Path(__file__).resolve().parents[1] / "models" / "nanodet-g.toml"


@dataclass(frozen=True)
class Operator:
    """An operator key pair."""

    private: Ed25519PrivateKey

    @classmethod
    def new(cls) -> Operator:
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_text(self) -> str:
        return format_public_key(self.public_raw)

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


@dataclass(frozen=True)
class Artifact:
    """A model file, its manifest and their signature."""

    onnx: bytes
    manifest: bytes
    signature: bytes
    key_id: str
    name: str
    version: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.onnx).hexdigest()


def manifest_for(onnx: bytes, version: str, template: Path = NANODET_MANIFEST) -> bytes:
    """The NanoDet-g manifest with `version` and the sha256 of `onnx` in place of its own."""
    text = template.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^version = "[^"]*"$', f'version = "{version}"', text, count=1)
    text = re.sub(
        r'(?m)^sha256 = "[0-9a-f]{64}"$',
        f'sha256 = "{hashlib.sha256(onnx).hexdigest()}"',
        text,
    )
    return text.encode()


def signed(operator: Operator, onnx: bytes, version: str, name: str = "nanodet-g") -> Artifact:
    """`onnx` with a manifest naming `version`, signed by `operator`."""
    manifest = manifest_for(onnx, version)
    message = signed_message(
        name,
        version,
        hashlib.sha256(onnx).hexdigest(),
        len(onnx),
        hashlib.sha256(manifest).hexdigest(),
    )
    return Artifact(onnx, manifest, operator.private.sign(message), operator.key_id, name, version)
