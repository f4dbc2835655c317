"""PostgreSQL: a per-test database the test role owns, over a password login on TCP."""

from __future__ import annotations

import uuid

import psycopg
import pytest

pytestmark = pytest.mark.integration


def test_it_inserts_and_selects_a_row(postgres_database: str) -> None:
    crop_id = uuid.uuid4()
    with psycopg.connect(postgres_database) as conn:
        conn.execute("CREATE TABLE crops (id uuid PRIMARY KEY, device text NOT NULL, score real)")
        conn.execute("INSERT INTO crops VALUES (%s, %s, %s)", (crop_id, "test-device-1", 0.75))
        row = conn.execute("SELECT id, device, score FROM crops").fetchall()
    assert row == [(crop_id, "test-device-1", 0.75)]


def test_each_test_gets_a_fresh_database(postgres_database: str, postgres_url: str) -> None:
    with psycopg.connect(postgres_database) as conn:
        name = conn.info.dbname
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert name != psycopg.conninfo.conninfo_to_dict(postgres_url)["dbname"]
    assert name.startswith("t_test_postgres_")
    assert tables == (0,)
