"""The on-disk spool between producers (pipeline, agent) and the senders (gRPC lanes).

Everything that must reach the cloud is `put` here first and deleted only after the cloud
acknowledged it (peek a batch -> upload -> await acks -> delete by row id; docs/architecture.md,
"Transport"), so a crash or an outage loses nothing that was put.

Rows: each row holds one wire message and says which: its `type` is `event` or `track` (the
`sightline.device.v1` Event / TrackSummary, delivered by the `record` lane through
UploadRecords) or `crop` (an `UploadCropsRequest`, the `crop` lane). The lane a row belongs to
is its `kind`, derived from the type.

Storage: one SQLite file in WAL mode with `synchronous=FULL`. FULL (an fsync per commit) rather
than NORMAL because with NORMAL a power cut may roll back the last commits, and a rolled-back
`next_seq` would hand out a sequence number the cloud has already seen (MessageKey must never
repeat). Edge boxes do lose power.

Bounds: each kind ('record' events and track summaries, 'crop' images) has its own row and byte
budget, so a flood of crops cannot push out records. When a `put` exceeds its kind's budget the
OLDEST rows of that kind are dropped (recent data is worth more to an operator than old data),
the persisted per-kind drop counter grows, and a WARNING is logged: never a silent drop. Bytes
are the payload lengths.

Dead letters: rows the cloud will never accept, or that failed too often (see `strike`), are
moved to a small `dead_letter` table (the newest `dead_letter_rows` are kept for inspection) and
counted per kind, so they are not retried forever.

Sequence numbers: `next_seq` counters of a NEW outbox start at its creation time in
microseconds since the epoch (sightline/device/v1/key.proto says why: an agent whose outbox was
lost must not repeat keys the cloud would ignore as repeats); an existing outbox keeps counting.

Schema versions (`PRAGMA user_version`): 0 is the first layout (kinds 'mqtt' and 'crop', a
`topic` column); it is migrated on open, in one transaction, into the current one: 'mqtt' rows
of the `events` and `tracks` topics become 'record' rows of type `event` and `track` with their
payload, key, time and attempts unchanged, and counters follow them. (The first layout spooled
only those two topics; a row of any other topic could not be sent any more, so it is
dead-lettered with the reason, counted, never dropped silently.)

Thread-safety: every method may be called from any thread; one lock serialises access to the one
connection. One process owns the file at a time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

Kind = Literal["record", "crop"]
"""A lane: 'record' rows go through UploadRecords, 'crop' rows through UploadCrops."""
KINDS: tuple[Kind, ...] = get_args(Kind)
RecordType = Literal["event", "track"]
"""The record a 'record' row holds; the name of its field in `UploadRecordsRequest`."""
RowType = Literal["event", "track", "crop"]
"""What a row holds (the wire message): `event`, `track` or `crop`."""
SeqCounter = Literal["message", "session"]
"""'message': MessageKey.seq of upstream messages; 'session': DeviceStatus.session_seq."""

SCHEMA_VERSION = 1
_SEQ_ORIGIN = "seq_origin"

_SCHEMA = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('record', 'crop')),
    type TEXT NOT NULL CHECK (type IN ('event', 'track', 'crop')),
    key TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    strikes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, key),
    CHECK ((kind = 'crop') = (type = 'crop'))
);
CREATE INDEX outbox_kind_id ON outbox (kind, id);
CREATE TABLE dead_letter (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    key TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL,
    strikes INTEGER NOT NULL,
    reason TEXT NOT NULL,
    dead_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
-- Running totals per kind, kept by triggers in the same transaction as the rows, so the bound
-- check is O(1) instead of a SUM over the whole spool on every put.
CREATE TABLE IF NOT EXISTS totals (
    kind TEXT PRIMARY KEY, rows INTEGER NOT NULL, bytes INTEGER NOT NULL
);
CREATE TRIGGER outbox_count_insert AFTER INSERT ON outbox BEGIN
    UPDATE totals SET rows = rows + 1, bytes = bytes + length(NEW.payload)
    WHERE kind = NEW.kind;
END;
CREATE TRIGGER outbox_count_delete AFTER DELETE ON outbox BEGIN
    UPDATE totals SET rows = rows - 1, bytes = bytes - length(OLD.payload)
    WHERE kind = OLD.kind;
END;
"""

# From version 0 (kinds 'mqtt' / 'crop' and a topic per row). Runs after _SCHEMA created the new
# tables beside the renamed old ones; the totals are recomputed from the rows.
_MIGRATE_FROM_0 = """
INSERT INTO outbox (id, kind, type, key, payload, created, attempts)
    SELECT id,
           CASE kind WHEN 'crop' THEN 'crop' ELSE 'record' END,
           CASE WHEN kind = 'crop' THEN 'crop'
                WHEN topic LIKE '%/events' THEN 'event' ELSE 'track' END,
           key, payload, created, attempts
    FROM outbox_v0
    WHERE kind = 'crop' OR topic LIKE '%/events' OR topic LIKE '%/tracks';
INSERT INTO dead_letter
        (id, kind, type, key, payload, created, attempts, strikes, reason, dead_at)
    SELECT id, CASE kind WHEN 'crop' THEN 'crop' ELSE 'record' END,
           CASE WHEN kind = 'crop' THEN 'crop'
                WHEN topic LIKE '%/events' THEN 'event'
                WHEN topic LIKE '%/tracks' THEN 'track' ELSE topic END,
           key, payload, created, attempts, 0, reason, dead_at
    FROM dead_letter_v0;
INSERT INTO dead_letter
        (kind, type, key, payload, created, attempts, strikes, reason, dead_at)
    SELECT 'record', topic, key, payload, created, attempts, 0,
           'migrated: rows of topic ' || topic || ' are no longer spooled', {now}
    FROM outbox_v0
    WHERE kind <> 'crop' AND topic NOT LIKE '%/events' AND topic NOT LIKE '%/tracks';
INSERT INTO counters (name, value)
    SELECT 'dead:mqtt', count(*) FROM outbox_v0
    WHERE kind <> 'crop' AND topic NOT LIKE '%/events' AND topic NOT LIKE '%/tracks'
    ON CONFLICT (name) DO UPDATE SET value = value + excluded.value;
UPDATE counters SET name = replace(name, ':mqtt', ':record')
    WHERE name IN ('dropped:mqtt', 'dead:mqtt');
DROP TABLE outbox_v0;
DROP TABLE dead_letter_v0;
DELETE FROM totals;
"""


class SpoolBounds(BaseModel):
    """The most one kind of row may hold on disk."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rows: int = Field(gt=0, description="Rows kept before the oldest are dropped.")
    max_bytes: int = Field(gt=0, description="Payload bytes kept before the oldest are dropped.")


class OutboxSettings(BaseModel):
    """Where the spool lives and how much it may hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="SQLite file (created with its directory if missing).")
    record: SpoolBounds = Field(
        default=SpoolBounds(max_rows=100_000, max_bytes=64 * 1024**2),
        description="Bounds for records (events, track summaries) waiting for UploadRecords.",
    )
    crop: SpoolBounds = Field(
        default=SpoolBounds(max_rows=20_000, max_bytes=1024**3),
        description="Bounds for crops waiting for UploadCrops.",
    )
    dead_letter_rows: int = Field(
        default=1000, ge=0, description="Newest dead letters kept for inspection (all counted)."
    )

    def bounds(self, kind: Kind) -> SpoolBounds:
        """The bounds of one kind."""
        return self.record if kind == "record" else self.crop


def kind_of(row_type: RowType) -> Kind:
    """The lane that delivers rows of `row_type`."""
    return "crop" if row_type == "crop" else "record"


@dataclass(frozen=True, slots=True)
class Row:
    """One spooled message."""

    id: int
    kind: Kind
    type: RowType
    """Which wire message `payload` is."""
    key: str
    """Idempotency key: the detection id for crops, `<device>:<seq>` for records."""
    payload: bytes
    created: float
    """Unix time of the put."""
    attempts: int
    """Send attempts so far (see `mark_attempt`)."""
    strikes: int
    """Answers that kept this row while others of its batch went through (see `strike`)."""


_ROW_COLUMNS = "id, kind, type, key, payload, created, attempts, strikes"


def _dropped_counter(kind: Kind) -> str:
    return f"dropped:{kind}"


def _dead_counter(kind: Kind) -> str:
    return f"dead:{kind}"


class OutboxError(Exception):
    """The spool file cannot be used by this agent (made by a newer one)."""


class Outbox:
    """The spool. Open with `Outbox(settings)`, close with `close()` (or use `with`)."""

    def __init__(self, settings: OutboxSettings) -> None:
        self._settings = settings
        settings.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE in _write), so a
        # write never runs inside an implicit transaction opened by an earlier read.
        self._db = sqlite3.connect(settings.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        try:
            self._open_schema()
        except BaseException:
            self._db.close()
            raise
        row = self._db.execute("SELECT value FROM counters WHERE name = ?", (_SEQ_ORIGIN,))
        origin = row.fetchone()
        self._seq_origin = int(origin[0]) if origin else 0

    def _open_schema(self) -> None:
        """Create the tables of a new file, migrate an old one, refuse one from the future."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
        ).fetchone()
        if exists and version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise OutboxError(
                f"{self._settings.path} has outbox schema {version}, newer than this agent's "
                f"{SCHEMA_VERSION}: upgrade the agent (the file was left unchanged)"
            )
        if not exists:
            script = (
                _SCHEMA
                + f"INSERT INTO counters (name, value) VALUES ('{_SEQ_ORIGIN}', "
                + f"{time.time_ns() // 1000});"
            )
            what = "created"
        else:
            script = (
                "DROP TRIGGER outbox_count_insert; DROP TRIGGER outbox_count_delete;"
                "DROP INDEX outbox_kind_id;"
                "ALTER TABLE outbox RENAME TO outbox_v0;"
                "ALTER TABLE dead_letter RENAME TO dead_letter_v0;"
                + _SCHEMA
                + _MIGRATE_FROM_0.format(now=time.time())
            )
            what = "migrated from schema 0"
        script += (
            "INSERT INTO totals (kind, rows, bytes) VALUES ('record', 0, 0), ('crop', 0, 0) "
            "ON CONFLICT (kind) DO NOTHING;"
            "UPDATE totals SET "
            "rows = (SELECT count(*) FROM outbox WHERE outbox.kind = totals.kind), "
            "bytes = (SELECT coalesce(sum(length(payload)), 0) FROM outbox "
            "WHERE outbox.kind = totals.kind);"
            f"PRAGMA user_version = {SCHEMA_VERSION};"
        )
        # executescript commits any open transaction first, so the script brings its own: the
        # whole change happens, or none of it.
        try:
            self._db.executescript(f"BEGIN IMMEDIATE; {script} COMMIT;")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        logger.info("outbox %s %s", self._settings.path, what)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def put(self, row_type: RowType, key: str, payload: bytes) -> int:
        """Spool one message and return its row id; drops the oldest rows of its kind if full.

        Idempotent on (kind, key): putting a key that is still spooled returns the existing row
        id and stores nothing. Raises ValueError for a payload larger than the kind's whole
        byte budget (a configuration error: no amount of dropping makes room for it).
        """
        kind = kind_of(row_type)
        bounds = self._settings.bounds(kind)
        if len(payload) > bounds.max_bytes:
            raise ValueError(
                f"{kind} payload of {len(payload)} bytes exceeds the outbox budget of "
                f"{bounds.max_bytes} bytes"
            )
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO outbox (kind, type, key, payload, created) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, key) DO NOTHING",
                (kind, row_type, key, payload, time.time()),
            )
            if cursor.rowcount == 0:
                logger.debug("outbox already holds %s %s", kind, key)
                (existing,) = db.execute(
                    "SELECT id FROM outbox WHERE kind = ? AND key = ?", (kind, key)
                ).fetchone()
                return int(existing)
            row_id = cursor.lastrowid
            assert row_id is not None  # an INSERT that added a row always sets it
            self._evict(db, kind, bounds)
        return row_id

    def _evict(self, db: sqlite3.Connection, kind: Kind, bounds: SpoolBounds) -> None:
        """Drop the oldest rows of `kind` until it fits its bounds (inside a write)."""
        rows, size = db.execute("SELECT rows, bytes FROM totals WHERE kind = ?", (kind,)).fetchone()
        excess_rows = rows - bounds.max_rows
        excess_bytes = size - bounds.max_bytes
        if excess_rows <= 0 and excess_bytes <= 0:
            return
        cutoff = None
        dropped = freed = 0
        # Walk from the oldest and stop as soon as enough is freed: the cost is proportional to
        # what is dropped, not to the spool size. The new row is never reached, because it
        # fits the bounds on its own (put checked its size).
        oldest = db.execute(
            "SELECT id, length(payload) FROM outbox WHERE kind = ? ORDER BY id", (kind,)
        )
        for row_id, length in oldest:
            cutoff = row_id
            dropped += 1
            freed += length
            if dropped >= excess_rows and freed >= excess_bytes:
                break
        oldest.close()
        db.execute("DELETE FROM outbox WHERE kind = ? AND id <= ?", (kind, cutoff))
        total = self._add(db, _dropped_counter(kind), dropped)
        logger.warning(
            "outbox full for %s: dropped the %d oldest rows (%d bytes), %d dropped in total",
            kind,
            dropped,
            freed,
            total,
            extra={"kind": kind},
        )

    @staticmethod
    def _add(db: sqlite3.Connection, name: str, amount: int, start: int = 0) -> int:
        """Add `amount` to a counter that starts at `start` when missing; the new value."""
        (value,) = db.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + ? RETURNING value",
            (name, start + amount, amount),
        ).fetchone()
        return int(value)

    def peek(self, kind: Kind, limit: int) -> list[Row]:
        """The oldest `limit` rows of `kind`, oldest first; they stay until `delete`d."""
        with self._lock:
            cursor = self._db.execute(
                f"SELECT {_ROW_COLUMNS} FROM outbox WHERE kind = ? ORDER BY id LIMIT ?",
                (kind, limit),
            )
            return [Row(*values) for values in cursor]

    def delete(self, kind: Kind, row_ids: Iterable[int]) -> int:
        """Delete delivered rows of `kind` by id and return how many were still spooled.

        A delivered row that is gone was dropped by the bound while its upload was in flight
        (only the bound removes rows behind the sender's back): the cloud has it after all, so it
        comes off the drop count again, in the same transaction, and the count stays what was
        really lost.
        """
        ids = list(row_ids)
        with self._write() as db:
            deleted = db.executemany(
                "DELETE FROM outbox WHERE id = ? AND kind = ?", ((i, kind) for i in ids)
            ).rowcount
            if deleted < len(ids):
                self._add(db, _dropped_counter(kind), deleted - len(ids))
        return deleted

    def mark_attempt(self, row_ids: Iterable[int]) -> None:
        """Count one more send attempt for each row."""
        with self._write() as db:
            db.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", ((i,) for i in row_ids)
            )

    def strike(self, row_ids: Iterable[int]) -> None:
        """Count one more strike for each row: the cloud kept it (asked to retry, or left it
        unacknowledged) while other rows of the same batch went through."""
        with self._write() as db:
            db.executemany(
                "UPDATE outbox SET strikes = strikes + 1 WHERE id = ?", ((i,) for i in row_ids)
            )

    def dead_letter(self, row_ids: Iterable[int], reason: str) -> int:
        """Move rows out of the spool into the dead letters, counted per kind; how many moved.

        Rows already gone (dropped or delivered meanwhile) are skipped.
        """
        now = time.time()
        moved = 0
        with self._write() as db:
            for row_id in row_ids:
                kind = db.execute(
                    f"INSERT INTO dead_letter ({_ROW_COLUMNS.removeprefix('id, ')}, reason, "
                    f"dead_at) SELECT {_ROW_COLUMNS.removeprefix('id, ')}, ?, ? "
                    "FROM outbox WHERE id = ? RETURNING kind",
                    (reason, now, row_id),
                ).fetchone()
                if kind is None:
                    continue
                db.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                self._add(db, _dead_counter(kind[0]), 1)
                moved += 1
            self._trim_dead_letters(db)
        return moved

    def reject(self, row_type: RowType, key: str, payload: bytes, reason: str) -> None:
        """Record a message that can never be sent as a dead letter, counted, without
        spooling it (a crop that no re-encoding brings under the message limit)."""
        kind = kind_of(row_type)
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO dead_letter (kind, type, key, payload, created, attempts, strikes, "
                "reason, dead_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)",
                (kind, row_type, key, payload, now, reason, now),
            )
            self._add(db, _dead_counter(kind), 1)
            self._trim_dead_letters(db)

    def _trim_dead_letters(self, db: sqlite3.Connection) -> None:
        db.execute(
            "DELETE FROM dead_letter WHERE id NOT IN "
            "(SELECT id FROM dead_letter ORDER BY id DESC LIMIT ?)",
            (self._settings.dead_letter_rows,),
        )

    def dead_letters(self, kind: Kind) -> list[Row]:
        """The dead letters still kept for `kind`, oldest first (ids are dead-letter ids).

        A row that the migration from the first layout dead-lettered because its topic is no
        longer spooled keeps that topic as its type.
        """
        with self._lock:
            cursor = self._db.execute(
                f"SELECT {_ROW_COLUMNS} FROM dead_letter WHERE kind = ? ORDER BY id", (kind,)
            )
            return [Row(*values) for values in cursor]

    def dead_letter_reasons(self, kind: Kind) -> list[str]:
        """Why each kept dead letter of `kind` was given up, oldest first."""
        with self._lock:
            cursor = self._db.execute(
                "SELECT reason FROM dead_letter WHERE kind = ? ORDER BY id", (kind,)
            )
            return [reason for (reason,) in cursor]

    def depth(self, kind: Kind | None = None) -> int:
        """Rows waiting, of one kind or of all."""
        return self._total("rows", kind)

    def bytes(self, kind: Kind | None = None) -> int:
        """Payload bytes waiting, of one kind or of all."""
        return self._total("bytes", kind)

    def _total(self, column: Literal["rows", "bytes"], kind: Kind | None) -> int:
        kinds = KINDS if kind is None else (kind,)
        with self._lock:
            return sum(
                self._db.execute(f"SELECT {column} FROM totals WHERE kind = ?", (k,)).fetchone()[0]
                for k in kinds
            )

    def dropped(self) -> dict[Kind, int]:
        """Rows dropped by the bound policy, per kind, since the file was created."""
        return {kind: self._counter(_dropped_counter(kind)) for kind in KINDS}

    def dead_lettered(self) -> dict[Kind, int]:
        """Rows moved to the dead-letter table, per kind, since the file was created."""
        return {kind: self._counter(_dead_counter(kind)) for kind in KINDS}

    def _counter(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def next_seq(self, device_id: str, counter: SeqCounter = "message") -> int:
        """The next value of a persisted per-device counter, never repeated.

        A new outbox starts every counter just above its creation time in microseconds (see the
        module docstring); the increment is committed (and fsynced) before the value is
        returned, so a value is never handed out twice, across crashes and restarts included;
        a crash may skip values.
        """
        with self._write() as db:
            return self._add(db, f"seq:{counter}:{device_id}", 1, start=self._seq_origin)

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._settings.path

    def close(self) -> None:
        """Close the database (checkpointing the WAL)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
