"""The models in the cache are the ones the manifests pin (tests/run.sh builds them first)."""

from __future__ import annotations

import pytest

from models.manifest import load_all
from tests.models.built_models import require_model


@pytest.mark.parametrize("name", [manifest.name for manifest in load_all()])
def test_every_built_model_matches_its_manifest(name: str) -> None:
    # resolve() re-hashes the cached file, so this fails on a stale or altered cache.
    assert require_model(name).is_file()
