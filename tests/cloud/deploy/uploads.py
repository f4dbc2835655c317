"""Model uploads for the registry and rollout tests."""

from __future__ import annotations

from typing import Any

from cloud.deploy.registry import Upload
from tests.signed_models import Artifact

ONNX = b"\x08\x07 model bytes for the registry tests" * 64
"""Bytes the registry stores as a model; it never opens them (the device does)."""


def upload_of(artifact: Artifact, **changes: Any) -> Upload:
    """The upload of `artifact`, as the command or the web form makes it, but for `changes`."""
    fields = {
        "onnx": artifact.onnx,
        "manifest_toml": artifact.manifest,
        "signature": artifact.signature,
        "key_id": artifact.key_id,
        **changes,
    }
    return Upload(**fields)
