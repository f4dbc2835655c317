"""Architecture rules that code review alone would not keep: who may import whom.

`edge` and `cloud` are separate deployables that share only the contract package `sightline` and
the light, runtime-safe modules of `models` (a manifest reader, the cache of built models, the
model error); neither may reach the other, nor the build recipe of `models`, nor `export`. Torch
and TensorFlow belong to export tooling only. `RULES` states every direction in one table, and
every import of every module of every top-level package (at any depth, inside functions too,
relative ones resolved) is checked against it. Strings that name a module (a manifest's
"module:function" converter, a registry's "module:Class") are not imports and are not checked.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Rule:
    """One part of the repository: the import names it owns and the parts it may import."""

    owns: tuple[str, ...]
    """Module names; each covers its submodules, and the longest matching name decides."""
    may_import: tuple[str, ...]
    """Other parts (keys of `RULES`); a part may always import itself."""


# The light modules of `models` that runtime code may import. `models.__init__` is the package
# file, which runs before any of them, so it must be as light as they are. `models.detection`
# (a detector's pure pre/post-processing, run by the edge on frames and the cloud on uploads)
# needs numpy and OpenCV, which both runtimes have, and nothing of the recipe.
LIGHT_MODELS = (
    "models.__init__",
    "models.manifest",
    "models.errors",
    "models.cache",
    "models.detection",
    # TensorRT engines: the manifest and cache key (pure), the one builder and the runner, shared
    # by the edge (builds at model swap) and export (INT8 builds). tensorrt and pycuda are
    # imported inside their functions, never at module import, so these stay light.
    "models.engines",
    "models.trt_engine",
    "models.trt_runtime",
)

# One row per part; adding a top-level package is adding its row here.
RULES: dict[str, Rule] = {
    # part            owns                      may import (besides itself)
    "sightline":      Rule(("sightline",),      ()),
    # Export tooling feeds models exactly as the runtimes do and builds engines with their
    # builder: the light modules only, never the recipe (which imports export's converters).
    "export":         Rule(("export",),         ("models.light",)),
    "models.light":   Rule(LIGHT_MODELS,        ()),
    "models":         Rule(("models",),         ("models.light", "export")),
    "edge":           Rule(("edge",),           ("sightline", "models.light")),
    "cloud":          Rule(("cloud",),          ("sightline", "models.light")),
    # The zero-setup demo composes the deployables as processes; it reads the cloud's database.
    "demo":           Rule(("demo",),           ("cloud", "sightline", "models.light")),
}  # fmt: skip

TRAINING_FRAMEWORKS = ("torch", "tensorflow")
MAY_USE_TRAINING_FRAMEWORKS = ("export",)

# Top-level names that are ours: importing one of these that no row allows is a violation
# (`tests` has no row, so no package may import the tests).
OURS = {name.split(".")[0] for rule in RULES.values() for name in rule.owns} | {"tests"}


def part_of(module: str) -> str | None:
    """The part owning `module` (longest matching name), or None when no row owns it."""
    best: tuple[int, str] | None = None
    for part, rule in RULES.items():
        for name in rule.owns:
            if (module == name or module.startswith(f"{name}.")) and (
                best is None or len(name) > best[0]
            ):
                best = (len(name), part)
    return best[1] if best else None


def imported_modules(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """Yield (line, module) for every import in the file of `module`, at any depth.

    `from x import y` yields `x.y`, since `y` may be a submodule (an attribute of `x` is owned
    by the same part as `x`). Relative imports are resolved against `module`.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = module.endswith(".__init__")
    package = module.removesuffix(".__init__").split(".")
    if not is_package:
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield node.lineno, base if alias.name == "*" else f"{base}.{alias.name}"


def check_file(path: Path, module: str) -> list[str]:
    """Every import of the file of `module` that `RULES` forbids, as `path:line: message`."""
    part = part_of(module)
    if part is None:
        return [f"{path}: module {module} belongs to no row of RULES"]
    allowed = {part, *RULES[part].may_import}
    found = []
    for line, imported in imported_modules(path, module):
        top = imported.split(".")[0]
        if top in TRAINING_FRAMEWORKS and part not in MAY_USE_TRAINING_FRAMEWORKS:
            found.append(f"{path}:{line}: {part} imports {imported}: export tooling only")
        elif top in OURS and (target := part_of(imported) or top) not in allowed:
            found.append(f"{path}:{line}: {part} imports {imported}, but may not import {target}")
    return found


def top_level_packages(root: Path) -> dict[str, Path]:
    """Import name -> folder of every package the wheel ships or the repository root holds."""
    pyproject = root / "pyproject.toml"
    shipped = []
    if pyproject.is_file():
        config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        shipped = config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    folders = {root / entry for entry in shipped}
    folders |= {init.parent for init in root.glob("*/__init__.py") if init.parent.name != "tests"}
    return {folder.name: folder for folder in sorted(folders)}


def packages_without_a_row(root: Path) -> list[str]:
    """Top-level packages under `root` that no row of `RULES` owns."""
    return [name for name in top_level_packages(root) if part_of(name) is None]


def module_name(path: Path, package_folder: Path) -> str:
    """`edge/detectors/ort.py` -> `edge.detectors.ort`; a package file keeps its `__init__`."""
    relative = path.relative_to(package_folder.parent).with_suffix("")
    return ".".join(relative.parts)


def repository_violations() -> list[str]:
    found = []
    for folder in top_level_packages(ROOT).values():
        for path in sorted(folder.rglob("*.py")):
            found += check_file(path.relative_to(ROOT), module_name(path, folder))
    return found


def test_every_top_level_package_has_a_row() -> None:
    assert packages_without_a_row(ROOT) == []


def test_every_import_follows_the_dependency_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert repository_violations() == []


def test_the_light_models_modules_load_neither_the_recipe_nor_a_runtime() -> None:
    heavy = ["models.build", "models.fetch", "export", "onnx", "onnxruntime", "cv2", "torch"]
    heavy += ["tensorrt", "pycuda"]
    script = (
        "import sys, models.manifest, models.errors, models.cache\n"
        "import models.engines, models.trt_engine, models.trt_runtime\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("module", "source", "imported"),
    [
        ("edge.app", "from cloud.search import views\n", "cloud.search.views"),
        ("cloud.demo", "import edge.app\n", "edge.app"),
        ("edge.detectors.model", "from models import build\n", "models.build"),
        ("cloud.embeddings.embedder", "from models.fetch import extract\n", "models.fetch.extract"),
        ("edge.x", "import export.tfjs_to_onnx\n", "export.tfjs_to_onnx"),
        ("models.cache", "def f():\n    from models.build import build\n", "models.build.build"),
        ("models.manifest", "from .build import build\n", "models.build.build"),
        ("models.__init__", "from models.build import resolve\n", "models.build.resolve"),
        ("sightline.backoff", "from models.errors import ModelError\n", "models.errors.ModelError"),
        ("export.tfjs_to_onnx", "from models.build import build\n", "models.build.build"),
        ("models.build", "from edge.detectors import postprocess\n", "edge.detectors.postprocess"),
        ("edge.x", "from tests.edge import nanodet\n", "tests.edge.nanodet"),
        ("models.build", "import torch\n", "torch"),
        ("sightline.x", "if True:\n    import tensorflow as tf\n", "tensorflow"),
    ],
    ids=[
        "edge->cloud", "cloud->edge", "edge->recipe", "cloud->recipe", "edge->export",
        "light->recipe in a function", "light->recipe relative", "package init->recipe",
        "contract->models", "export->recipe", "models->edge", "package->tests",
        "torch in models", "tensorflow in contract",
    ],
)  # fmt: skip
def test_the_checker_catches_each_kind_of_violation(
    tmp_path: Path, module: str, source: str, imported: str
) -> None:
    path = write(tmp_path, "sample.py", source)

    (violation,) = check_file(path, module)

    assert f"imports {imported}" in violation


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("edge.detectors.model", "from models.manifest import RuntimeManifest\nimport numpy\n"),
        ("cloud.x", "import sightline.ingest.v1.ingest_pb2\nfrom models import cache, errors\n"),
        ("models.cache", "from .manifest import manifest_path\nfrom . import errors\n"),
        ("models.build", "from models import fetch\nimport export.tfjs_to_onnx\n"),
        ("export.x", "import torch\nfrom models.detection import letterbox\n"),
    ],
    ids=["edge", "cloud", "light relative", "recipe", "export"],
)
def test_the_checker_allows_what_the_table_allows(tmp_path: Path, module: str, source: str) -> None:
    assert check_file(write(tmp_path, "sample.py", source), module) == []


def test_a_top_level_package_without_a_row_is_reported(tmp_path: Path) -> None:
    (tmp_path / "rollout_tool").mkdir()
    write(tmp_path / "rollout_tool", "__init__.py", "")
    (tmp_path / "tests").mkdir()
    write(tmp_path / "tests", "__init__.py", "")
    write(tmp_path, "pyproject.toml", '[tool.hatch.build.targets.wheel]\npackages = ["p/edge"]\n')

    assert packages_without_a_row(tmp_path) == ["rollout_tool"]
