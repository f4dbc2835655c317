"""Access to models built by `python -m models build` (tests/run.sh runs it before pytest).

Without a built model a test is skipped with the command that builds it, or fails when CI is
set, so that a broken build cannot turn into a quietly green run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

from models.cache import BUILD_COMMAND, resolve
from models.errors import ModelNotBuiltError


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail when the CI variable is set."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (CI is set, so this is an error)", pytrace=False)
    pytest.skip(reason)


def require_model(name: str) -> Path:
    """Path of the built model `name`; skips (or fails under CI) when it is not built."""
    try:
        return resolve(name)
    except ModelNotBuiltError:
        unavailable(f"model {name} is not built: run `{BUILD_COMMAND} {name}`")
