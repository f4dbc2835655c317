"""Architecture rules that code review alone would not keep.

`edge` and `cloud` are separate deployables: the only contract they share is the generated protobuf
package (`sightline.*`). Torch and TensorFlow belong to export tooling only, never to runtime code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_PACKAGES = ("edge", "cloud")
FORBIDDEN_IN_RUNTIME = ("torch", "tensorflow")


def imported_top_level_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, top-level module) for every absolute import in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imported_top_level_modules(path):
            if module in forbidden:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


@pytest.mark.parametrize(("package", "other"), [("edge", "cloud"), ("cloud", "edge")])
def test_edge_and_cloud_never_import_each_other(package: str, other: str) -> None:
    assert violations(package, (other,)) == []


@pytest.mark.parametrize("package", RUNTIME_PACKAGES)
def test_runtime_packages_do_not_import_torch_or_tensorflow(package: str) -> None:
    assert violations(package, FORBIDDEN_IN_RUNTIME) == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom cloud.search import views\n", encoding="utf-8")
    assert list(imported_top_level_modules(sample)) == [(1, "os"), (2, "cloud")]
