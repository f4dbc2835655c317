"""An outbox file as the first outbox layout (schema 0) made it, to test the migration.

The DDL is a verbatim copy of that version's `edge/transport/outbox.py` (kinds 'mqtt' and 'crop',
a topic per row); the rows are written the way its `put`, `dead_letter` and `next_seq` did.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA_V0 = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('mqtt', 'crop')),
    key TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, key)
);
CREATE INDEX IF NOT EXISTS outbox_kind_id ON outbox (kind, id);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    dead_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
-- Running totals per kind, kept by triggers in the same transaction as the rows, so the bound
-- check is O(1) instead of a SUM over the whole spool on every put.
CREATE TABLE IF NOT EXISTS totals (
    kind TEXT PRIMARY KEY, rows INTEGER NOT NULL, bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals (kind, rows, bytes) VALUES ('mqtt', 0, 0), ('crop', 0, 0);
CREATE TRIGGER IF NOT EXISTS outbox_count_insert AFTER INSERT ON outbox BEGIN
    UPDATE totals SET rows = rows + 1, bytes = bytes + length(NEW.payload)
    WHERE kind = NEW.kind;
END;
CREATE TRIGGER IF NOT EXISTS outbox_count_delete AFTER DELETE ON outbox BEGIN
    UPDATE totals SET rows = rows - 1, bytes = bytes - length(OLD.payload)
    WHERE kind = OLD.kind;
END;
"""


def make_v0_outbox(path: Path, rows: list[tuple[str, str, str, bytes]]) -> None:
    """A schema-0 file holding `rows` (kind, key, topic, payload) in order, one of them
    dead-lettered and some counters set, as the old agent left it."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA_V0)
    for kind, key, topic, payload in rows:
        db.execute(
            "INSERT INTO outbox (kind, key, topic, payload, created, attempts) "
            "VALUES (?, ?, ?, ?, 1700000000.5, 3)",
            (kind, key, topic, payload),
        )
    db.execute(
        "INSERT INTO dead_letter (kind, key, topic, payload, created, attempts, reason, dead_at) "
        "VALUES ('mqtt', 'dev:1', 's/v1/a/dev/events', x'00', 1.0, 7, 'refused', 2.0)"
    )
    db.executemany(
        "INSERT INTO counters (name, value) VALUES (?, ?)",
        [("dropped:mqtt", 4), ("dead:mqtt", 1), ("dropped:crop", 2), ("seq:message:dev", 41),
         ("seq:session:dev", 9)],
    )  # fmt: skip
    db.close()
