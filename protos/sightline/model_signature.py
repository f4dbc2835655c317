"""What an operator's model signature covers, byte for byte: the one rule the cloud (which signs)
and the edge (which verifies) must apply identically.

A model version is signed with the operator's ed25519 private key over `signed_message`: the
model's registry name and version, the sha256 and size of the artifact (the ONNX file) and the
sha256 of its manifest, so neither the weights nor the way they are fed and labelled can be
swapped under a valid signature. `key_id` names a public key so that a device can pick the trusted
key a signature claims, and operators can rotate keys. The signing and verifying themselves use
the `cryptography` package on each side (`cloud.deploy.signing`, `edge.deploy.verify`); this
module holds only the rule, so the wire contract stays free of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Final

CONTEXT: Final = b"sightline model signature v1\n"
"""Prefix of every signed message: a signature over anything else cannot pass for one of these."""
PUBLIC_KEY_PREFIX: Final = "ed25519:"
"""Text form of a public key: this prefix, then the 32 raw key bytes in base64."""
ED25519_PUBLIC_KEY_BYTES: Final = 32
ED25519_SIGNATURE_BYTES: Final = 64
_SHA256: Final = re.compile(r"^[0-9a-f]{64}$")


def signed_message(name: str, version: str, sha256: str, size: int, manifest_sha256: str) -> bytes:
    """The bytes a model signature is made over. Raises ValueError for a malformed field.

    One field per line after `CONTEXT`; names and versions cannot hold a newline, so the
    encoding is unambiguous.
    """
    for what, value in (("name", name), ("version", version)):
        if not value or "\n" in value:
            raise ValueError(f"model {what} {value!r} must be non-empty and hold no newline")
    for what, digest in (("sha256", sha256), ("manifest sha256", manifest_sha256)):
        if not _SHA256.match(digest):
            raise ValueError(f"{what} {digest!r} is not lowercase hex sha256")
    if size < 0:
        raise ValueError(f"size {size} is negative")
    fields = (name, version, sha256, str(size), manifest_sha256)
    return CONTEXT + "".join(f"{field}\n" for field in fields).encode()


def key_id(public_key: bytes) -> str:
    """The id of a raw 32-byte ed25519 public key: the first 16 hex digits of its sha256."""
    if len(public_key) != ED25519_PUBLIC_KEY_BYTES:
        raise ValueError(f"an ed25519 public key has 32 bytes, not {len(public_key)}")
    return hashlib.sha256(public_key).hexdigest()[:16]


def format_public_key(public_key: bytes) -> str:
    """`ed25519:<base64>`, the form operators paste into an edge config."""
    key_id(public_key)  # checks the length
    return PUBLIC_KEY_PREFIX + base64.b64encode(public_key).decode()


def parse_public_key(text: str) -> bytes:
    """The raw key bytes of `format_public_key`'s text; ValueError naming what is wrong."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(f"a public key reads {PUBLIC_KEY_PREFIX}<base64>, not {text[:16]!r}...")
    try:
        raw = base64.b64decode(text.removeprefix(PUBLIC_KEY_PREFIX), validate=True)
    except binascii.Error as err:
        raise ValueError(f"public key is not valid base64: {err}") from err
    key_id(raw)  # checks the length
    return raw
