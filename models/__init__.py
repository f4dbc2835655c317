"""Model manifests and the reproducible recipe that builds each model file into the cache.

Public surface: `resolve(name)` (path of a built, verified model; never builds),
`load_manifest(name)` / `load_all()`, and the CLI `python -m models build|path|verify|accuracy`.
"""

from models.build import resolve
from models.manifest import load_all, load_manifest

__all__ = ["load_all", "load_manifest", "resolve"]
