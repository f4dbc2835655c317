"""Fleet migrations on real PostgreSQL: the free-text sites of stored devices become Site rows
(PostgreSQL refuses to alter a table with checks of the same transaction pending, which SQLite
never shows)."""

from __future__ import annotations

import json

import pytest

from tests.cloud.fleet.legacy_sites import MIGRATE_LEGACY_SITES, assert_migrated
from tests.cloud.ingest.processes import cloud_env, run_cloud

pytestmark = pytest.mark.integration


def test_the_migrations_make_a_site_of_every_former_site_value(postgres_database: str) -> None:
    env = cloud_env({"SIGHTLINE_CLOUD_DATABASE_URL": postgres_database})
    assert_migrated(json.loads(run_cloud(env, "shell", "--no-imports", "-c", MIGRATE_LEGACY_SITES)))
