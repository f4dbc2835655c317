"""Detections migrations 0002 and 0003 on SQLite rows stored under 0001."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cloud.detections.legacy_rows import MIGRATE_LEGACY_ROWS, assert_migrated
from tests.cloud.ingest.processes import cloud_env, run_cloud


@pytest.mark.slow
def test_they_key_tracks_by_the_edges_track_id_and_normalise_boxes(tmp_path: Path) -> None:
    env = cloud_env({"SIGHTLINE_CLOUD_DATABASE_URL": f"sqlite:///{tmp_path / 'cloud.sqlite3'}"})
    assert_migrated(json.loads(run_cloud(env, "shell", "--no-imports", "-c", MIGRATE_LEGACY_ROWS)))
