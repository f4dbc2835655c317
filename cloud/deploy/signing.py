"""Operator signing keys (ed25519, `cryptography`) and model signatures.

The private key stays with the operator: `python -m cloud models keygen` writes it to a file
readable by its owner only, and `models upload --key FILE` signs on the operator's machine. The
cloud holds public keys only (`SigningKey`) and checks every upload against them, as devices do
against theirs. What is signed is `sightline.model_signature.signed_message`.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloud.errors import InvalidInput
from sightline.model_signature import format_public_key, key_id


def generate_key(path: Path) -> str:
    """Write a new private key to `path` (PEM, PKCS#8, mode 0600; refuses to overwrite) and
    return its public key in text form (`ed25519:<base64>`)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise InvalidInput(f"{path} exists; not overwriting a key") from err
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return public_text(private)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The ed25519 private key in the PEM file at `path`; InvalidInput naming the problem."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InvalidInput(f"cannot read the key file {path}: {err.strerror}") from err
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as err:
        raise InvalidInput(f"{path} holds no unencrypted PEM private key: {err}") from err
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} holds a {type(key).__name__}, not an ed25519 key")
    return key


def public_raw(private: Ed25519PrivateKey) -> bytes:
    """The raw 32 bytes of the private key's public key."""
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def public_text(private: Ed25519PrivateKey) -> str:
    """The private key's public key as `ed25519:<base64>`."""
    return format_public_key(public_raw(private))


def private_key_id(private: Ed25519PrivateKey) -> str:
    """The key id (`sightline.model_signature.key_id`) of the private key's public key."""
    return key_id(public_raw(private))


def verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether `signature` is a valid ed25519 signature of `message` under `public_key`."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
