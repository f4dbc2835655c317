"""A detector model as the agent runs it: `load_model_spec` reads the manifest's runtime view
(`models.manifest.RuntimeManifest`), checks that it is a detector this agent can run, and finds
the model file; `ModelSpec.read_verified` checks the file against the manifest's sha256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.detectors.base import ModelSettings
from models.cache import BUILD_COMMAND, model_path
from models.errors import ModelError
from models.manifest import RuntimeManifest, read_runtime_manifest

RUNNABLE = "NCHW float32 [1, 3, height, width], letterboxed, with colour order, mean, std, labels"
"""What the agent's preprocessing and decoding can feed and read."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A detector model as the agent runs it."""

    name: str
    version: str
    path: Path
    """The model file (found, not yet verified: see `read_verified`)."""
    sha256: str
    """The sha256 the manifest pins for the file."""
    input_name: str
    input_size: tuple[int, int]
    """Model input (width, height) in pixels; frames are letterboxed to it."""
    color: Literal["BGR", "RGB"]
    mean: tuple[float, float, float]
    """Subtracted per input channel (in the model's channel order)."""
    std: tuple[float, float, float]
    """Then divided by, per input channel."""
    labels: tuple[str, ...]
    """Class names indexed by class id."""

    def read_verified(self) -> bytes:
        """The model file's bytes, after checking them against the manifest's sha256.

        Returning the bytes that were hashed (rather than a path to open again) means the bytes
        checked are the bytes loaded. Raises ModelError when the file is unreadable or differs.
        """
        try:
            data = self.path.read_bytes()
        except OSError as err:
            raise ModelError(f"model file {self.path}: cannot read: {err.strerror}") from err
        digest = hashlib.sha256(data).hexdigest()
        if digest != self.sha256:
            raise ModelError(
                f"model file {self.path} has sha256 {digest} but the {self.name} {self.version} "
                f"manifest pins {self.sha256}: the file was altered or corrupted; refusing to "
                "load it"
            )
        return data


def _find_file(settings: ModelSettings, manifest: RuntimeManifest) -> Path:
    if settings.file is not None:
        candidates = [settings.file]
    else:
        # Beside the manifest is how a device receives a model; the cache is where
        # `python -m models build` puts it on a development machine.
        candidates = [settings.manifest.parent / manifest.output.file, model_path(manifest)]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise ModelError(
        f"model {manifest.name} {manifest.version}: no model file (looked for {looked}); build it "
        f"with `{BUILD_COMMAND} {manifest.name}` or set detector.model.file"
    )


def _input_size(shape: tuple[int | str, ...]) -> tuple[int, int] | None:
    """(width, height) of a fixed `[1, 3, height, width]` shape, else None."""
    match shape:
        case (1, 3, int(height), int(width)):
            return width, height
    return None


def load_model_spec(settings: ModelSettings) -> ModelSpec:
    """Read the manifest `settings` names and locate its model file.

    Raises ModelError when the manifest is unreadable or invalid, describes a model this agent
    cannot run (see `RUNNABLE`), or has no model file.
    """
    path = settings.manifest
    manifest = read_runtime_manifest(path)
    spec, labels, size = manifest.input, manifest.labels, _input_size(manifest.input.shape)
    color, mean, std = spec.color, spec.mean, spec.std
    problems = [
        f"{key}: is {value!r}, must be {wanted!r}"
        for key, value, wanted in [
            ("task", manifest.task, "detector"),
            ("input.layout", spec.layout, "NCHW"),
            ("input.dtype", spec.dtype, "float32"),
            ("input.resize", spec.resize, "letterbox"),
        ]
        if value != wanted
    ]
    if size is None:
        problems.append(f"input.shape: is {list(spec.shape)}, must be [1, 3, height, width]")
    optional = {"input.color": color, "input.mean": mean, "input.std": std, "labels": labels}
    problems += [f"{key}: missing" for key, value in optional.items() if value is None]
    # The None tests repeat the ones above so that the type checker sees them.
    if problems or size is None or color is None or mean is None or std is None or labels is None:
        raise ModelError(
            f"model manifest {path} does not describe a detector this agent can run "
            f"({RUNNABLE}): {'; '.join(problems)}"
        )
    return ModelSpec(
        name=manifest.name,
        version=manifest.version,
        path=_find_file(settings, manifest),
        sha256=manifest.output.sha256,
        input_name=spec.name,
        input_size=size,
        color=color,
        mean=mean,
        std=std,
        labels=labels.names,
    )
