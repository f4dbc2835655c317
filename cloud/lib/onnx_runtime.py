"""ONNX Runtime sessions of the cloud's models: the sha256 check before loading, and one way of
setting up a CPU session.

The web process (uploads, text search) and the embed workers both run models; a model file is
checked against the sha256 its manifest (or the operator's settings) pins before ONNX Runtime
reads it, so a tampered or half-written file is refused rather than run.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from models.cache import BUILD_COMMAND, sha256_file
from models.errors import ModelError
from models.manifest import RuntimeManifest


def check_pinned(model_path: Path, manifest: RuntimeManifest) -> None:
    """Raise `ModelError` unless the file's sha256 is the one `manifest` pins."""
    digest = sha256_file(model_path)
    if digest != manifest.output.sha256:
        raise ModelError(
            f"{model_path} has sha256 {digest}, but {manifest.name}.toml pins "
            f"{manifest.output.sha256}: rebuild it with `{BUILD_COMMAND} {manifest.name}`"
        )


def cpu_session(model_path: Path | str, *, threads: int, spinning: bool) -> ort.InferenceSession:
    """A CPU session with `threads` intra-op threads and one inter-op thread.

    `spinning` keeps idle threads busy-waiting for the next run: right for a worker that does
    nothing else, wrong in a web process, whose cores serve requests between runs.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
