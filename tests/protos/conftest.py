"""Fixtures shared by the wire-contract tests."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest

PROTOS = Path(__file__).resolve().parents[2] / "protos"


@pytest.fixture(scope="session")
def contract_modules() -> dict[Path, ModuleType]:
    """Every ``.proto`` of the contract (relative to protos/) mapped to its imported ``_pb2``."""
    return {
        proto.relative_to(PROTOS): importlib.import_module(
            ".".join(proto.relative_to(PROTOS).with_suffix("").parts) + "_pb2"
        )
        for proto in sorted(PROTOS.glob("sightline/**/*.proto"))
    }
