"""The runtime view of a model manifest: which file to load, its sha256, its input spec, its labels.

Why not `models.manifest`: importing it runs `models/__init__.py`, which pulls in the build recipe
(registry fetchers, archive extraction, converters), and its schema forbids unknown keys in the
build-only sections. A device receives a model as a file plus its manifest, not the recipe, and an
agent already deployed must keep reading manifests after a build-only key is added. So the agent
reads the TOML itself (stdlib `tomllib`) and validates only what it uses: unknown keys are ignored
at the top level and in `[output]`, but forbidden in `[input]`, where an unknown key could change
how pixels must be fed and ignoring it would silently ruin accuracy.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError

from edge.detectors.base import ModelSettings
from edge.errors import ModelError

# The cache contract of models/cache.py: $SIGHTLINE_CACHE_DIR/models/<name>/<version>/<file>.
_CACHE_ENV = "SIGHTLINE_CACHE_DIR"


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    shape: tuple[Literal[1], Literal[3], PositiveInt, PositiveInt]
    dtype: Literal["float32"]
    layout: Literal["NCHW"]
    color: Literal["BGR", "RGB"]
    mean: tuple[float, float, float]
    std: tuple[PositiveFloat, PositiveFloat, PositiveFloat]
    resize: Literal["letterbox"]


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    file: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class _Labels(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    names: tuple[str, ...] = Field(min_length=1)


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    task: Literal["detector"]
    output: _Output
    input: _Input
    labels: _Labels


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


def _cache_root() -> Path:
    configured = os.environ.get(_CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "sightline"


def _find_file(settings: ModelSettings, manifest: _Manifest) -> Path:
    if settings.file is not None:
        candidates = [settings.file]
    else:
        # Beside the manifest is how a device receives a model; the cache is where
        # `python -m models build` puts it on a development machine.
        candidates = [
            settings.manifest.parent / manifest.output.file,
            _cache_root() / "models" / manifest.name / manifest.version / manifest.output.file,
        ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise ModelError(
        f"model {manifest.name} {manifest.version}: no model file (looked for {looked}); build it "
        f"with `python -m models build {manifest.name}` or set detector.model.file"
    )


def load_model_spec(settings: ModelSettings) -> ModelSpec:
    """Read the manifest `settings` names and locate its model file. Raises ModelError."""
    path = settings.manifest
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ModelError(f"model manifest {path}: cannot read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ModelError(f"model manifest {path}: not valid TOML: {err}") from err
    try:
        manifest = _Manifest.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in err.errors()
        )
        raise ModelError(
            f"model manifest {path} does not describe a detector this agent can run "
            f"(NCHW float32, letterboxed, with labels): {problems}"
        ) from err
    spec = manifest.input
    return ModelSpec(
        name=manifest.name,
        version=manifest.version,
        path=_find_file(settings, manifest),
        sha256=manifest.output.sha256,
        input_name=spec.name,
        input_size=(spec.shape[3], spec.shape[2]),
        color=spec.color,
        mean=spec.mean,
        std=spec.std,
        labels=manifest.labels.names,
    )
