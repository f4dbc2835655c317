"""Fleet migrations 0003 and 0004 on SQLite devices stored under 0002."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cloud.fleet.legacy_sites import MIGRATE_LEGACY_SITES, assert_migrated
from tests.cloud.ingest.processes import cloud_env, run_cloud


@pytest.mark.slow
def test_they_make_a_site_of_every_former_site_value(tmp_path: Path) -> None:
    env = cloud_env({"SIGHTLINE_CLOUD_DATABASE_URL": f"sqlite:///{tmp_path / 'cloud.sqlite3'}"})
    assert_migrated(json.loads(run_cloud(env, "shell", "--no-imports", "-c", MIGRATE_LEGACY_SITES)))
