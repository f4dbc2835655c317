"""The track journal: what a crash of the agent would otherwise lose silently, kept on disk.

A kill -9 or a power cut skips the end of every track in progress: the views its selector holds
and its final summary never reach the outbox, and a restarted agent would read a recorded file
from its start again, storing everything a second time under new ids. The journal bounds both:

- **Tracks in progress.** The `TrackLedger` records each confirmed track (its latest summary:
  first seen, last seen, box count, label, the best crop sent) when it is confirmed, when a crop
  or interval summary is handed on and when it ends, which removes it. On start, `recover` gives
  every track a dead process left a final summary (ended, with what was known), hands one
  `tracks.interrupted` event per camera to the sink and adds their number to the persisted
  `tracks_interrupted_total`, which the heartbeat reports. As a track's first crop is sent soon
  after it is seen (`CropSettings.first_crop_after_s`), a crash loses at most the better views
  not yet sent, and counts the tracks it cut short.
- **Positions in files.** With each write the journal keeps, per camera reading a file, the index
  of the last frame whose effects were handed on, keyed by the file's identity (path, size,
  modification time). A restarted agent resumes after it (`CameraJournal.resume_after`); a
  changed file starts over; live sources have no position.

Writes happen on those track events only, never per frame: one transaction per frame that
changed something, after its records were handed to the sink (a crash in between re-sends, it
never names a crop that was not handed on). SQLite WAL with `synchronous=FULL`, as the outbox.
`path: None` keeps the journal in memory (`delivery: null`: nothing is kept, nothing to resume).

Thread-safety: every method may be called from any thread (one lock, one connection); one process
owns the file at a time.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edge.pipelines.base import PipelineSink
from edge.records import CameraEvent, EventSeverity, TrackSummary
from edge.sources.base import FileIdentity

logger = logging.getLogger(__name__)

INTERRUPTED_EVENT = "tracks.interrupted"
_INTERRUPTED_COUNTER = "tracks_interrupted_total"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    track_id TEXT PRIMARY KEY,
    camera_id TEXT NOT NULL,
    label TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    best_detection_id TEXT NOT NULL,
    best_score REAL NOT NULL,
    box_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    camera_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    frame_index INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_TRACK_COLUMNS = (
    "track_id, camera_id, label, first_seen, last_seen, best_detection_id, best_score, box_count"
)


class JournalSettings(BaseModel):
    """Where the track journal lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path | None = Field(
        default=None,
        description="SQLite file of the journal (created with its directory if missing). "
        "Default: beside the outbox, named after it (outbox.sqlite -> outbox.journal.sqlite); "
        "with delivery null, in memory (nothing is resumed after a restart).",
    )


def journal_path(settings: JournalSettings, outbox: Path | None) -> Path | None:
    """The journal file `settings` and the outbox path (None without delivery) ask for; None
    for an in-memory journal."""
    if settings.path is not None:
        return settings.path
    if outbox is None:
        return None
    return outbox.with_name(f"{outbox.stem}.journal.sqlite")


class Journal:
    """The journal of every camera; see the module docstring. Close with `close()`."""

    def __init__(self, path: Path | None) -> None:
        """Open (or create) the journal at `path`; None keeps it in memory."""
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:" if path is None else path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def camera(self, camera_id: str, file: FileIdentity | None) -> CameraJournal:
        """The part of the journal one camera's `TrackLedger` writes; `file` is the video file
        the camera reads (None for a live source, which has no position)."""
        resume_after = None
        if file is not None:
            with self._lock:
                row = self._db.execute(
                    "SELECT path, size, mtime_ns, frame_index FROM positions WHERE camera_id = ?",
                    (camera_id,),
                ).fetchone()
            if row is not None and FileIdentity(row[0], row[1], row[2]) == file:
                resume_after = int(row[3])
            elif row is not None:
                logger.info(
                    "camera %s: %s is not the file read before (%s, %d bytes, modified %d ns), "
                    "reading it from the start", camera_id, file.path, row[0], row[1], row[2],
                    extra={"camera_id": camera_id},
                )  # fmt: skip
        return CameraJournal(self, camera_id, file, resume_after)

    def _save(
        self,
        camera_id: str,
        file: FileIdentity | None,
        tracks: Sequence[TrackSummary],
        ended: Sequence[str],
        position: int | None,
    ) -> None:
        """One durable write (see `CameraJournal.save`)."""
        # `with db`: one transaction, committed at the end or rolled back on an exception.
        with self._lock, self._db as db:
            db.executemany(
                f"INSERT OR REPLACE INTO tracks ({_TRACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [_track_row(summary) for summary in tracks],
            )
            db.executemany("DELETE FROM tracks WHERE track_id = ?", [(i,) for i in ended])
            if file is not None and position is not None:
                db.execute(
                    "INSERT OR REPLACE INTO positions "
                    "(camera_id, path, size, mtime_ns, frame_index) VALUES (?, ?, ?, ?, ?)",
                    (camera_id, file.path, file.size, file.mtime_ns, position),
                )

    def recover(self, sink: PipelineSink) -> int:
        """End the tracks a dead process left: a final summary each and one
        `tracks.interrupted` event per camera, handed to `sink`; then forget them and add their
        number to `tracks_interrupted_total`. Returns that number (0 after a clean stop).

        Call it once at start, before any camera runs. A crash during recovery repeats it on
        the next start (summaries are idempotent per track; the event may come twice).
        """
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_TRACK_COLUMNS} FROM tracks ORDER BY camera_id, first_seen"
            ).fetchall()
        if not rows:
            return 0
        now = datetime.now(UTC)
        for camera_id, group in groupby(map(_track_summary, rows), key=lambda s: s.camera_id):
            summaries = list(group)
            for summary in summaries:
                sink.track(replace(summary, ended=True))
            count = len(summaries)
            sink.event(
                CameraEvent(
                    INTERRUPTED_EVENT,
                    EventSeverity.WARNING,
                    camera_id,
                    now,
                    f"{count} track(s) in progress were cut short by an unclean stop of the agent "
                    "(crash, kill or power loss); their final summaries carry what was known, "
                    "views not yet sent are lost",
                    attributes={"count": str(count), "camera": camera_id},
                )
            )
            logger.warning(
                "camera %s: %d track(s) interrupted by an unclean stop; ended with what was known",
                camera_id, count, extra={"camera_id": camera_id},
            )  # fmt: skip
        with self._lock, self._db as db:
            db.executemany("DELETE FROM tracks WHERE track_id = ?", [(row[0],) for row in rows])
            db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
                (_INTERRUPTED_COUNTER, len(rows)),
            )
        return len(rows)

    def tracks_interrupted_total(self) -> int:
        """Tracks ended by `recover` over the journal's life (persisted): for the heartbeat."""
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM counters WHERE name = ?", (_INTERRUPTED_COUNTER,)
            ).fetchone()
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        """Close the file; the journal is unusable afterwards."""
        with self._lock:
            self._db.close()


class CameraJournal:
    """One camera's part of the journal: what its `TrackLedger` writes (`TrackJournal`)."""

    def __init__(
        self, journal: Journal, camera_id: str, file: FileIdentity | None, resume_after: int | None
    ) -> None:
        """Made by `Journal.camera`."""
        self._journal = journal
        self._camera_id = camera_id
        self._file = file
        self._resume_after = resume_after

    @property
    def resume_after(self) -> int | None:
        """The index of the last frame of this same file whose effects were handed on before;
        None to start from the first frame (a new or changed file, a live source)."""
        return self._resume_after

    def save(
        self, tracks: Sequence[TrackSummary], ended: Sequence[str], position: int | None
    ) -> None:
        """Record in one durable write: `tracks` confirmed or updated (each its latest summary,
        not ended), the ids of tracks whose final summary was handed on (`ended`), and
        `position`, the index of the frame all of it follows from (kept for files only)."""
        self._journal._save(self._camera_id, self._file, tracks, ended, position)


def _track_row(summary: TrackSummary) -> tuple[str | float | int, ...]:
    return (
        summary.track_id,
        summary.camera_id,
        summary.label,
        summary.first_seen.isoformat(),
        summary.last_seen.isoformat(),
        summary.best_detection_id,
        summary.best_score,
        summary.box_count,
    )


def _track_summary(row: tuple[str, str, str, str, str, str, float, int]) -> TrackSummary:
    track_id, camera_id, label, first_seen, last_seen, best_id, best_score, box_count = row
    return TrackSummary(
        track_id=track_id,
        camera_id=camera_id,
        label=label,
        first_seen=datetime.fromisoformat(first_seen),
        last_seen=datetime.fromisoformat(last_seen),
        best_detection_id=best_id,
        best_score=best_score,
        box_count=box_count,
        ended=False,
    )
