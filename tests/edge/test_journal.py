"""The track journal: tracks a dead process left are ended and counted; file positions resume.

A "crash" here is a journal dropped without ending its tracks, and a fresh `Journal` on the same
file is the restarted agent (SQLite WAL: the second connection sees exactly what was committed).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge.crops.selector import CropSettings
from edge.journal import Journal, JournalSettings, journal_path
from edge.pipelines.tracks import TrackLedger
from edge.records import EventSeverity, ModelRef, TrackSummary
from edge.sources.base import FileIdentity, SourceSettings
from edge.tracking.base import TrackState
from tests.edge.sinks import RecordingSink
from tests.edge.updates import track_update

START = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = ModelRef("nanodet-g", "1")
VIDEO = FileIdentity("/videos/lobby.avi", 1000, 123)


def summary(track_id: str, camera_id: str = "lobby", **fields: object) -> TrackSummary:
    values: dict[str, object] = {
        "label": "person",
        "first_seen": START,
        "last_seen": START + timedelta(seconds=2),
        "best_detection_id": f"crop-of-{track_id}",
        "best_score": 0.8,
        "box_count": 20,
        "ended": False,
    }
    return TrackSummary(track_id=track_id, camera_id=camera_id, **(values | fields))  # type: ignore[arg-type]


def test_tracks_a_dead_process_left_get_a_final_summary_an_event_and_a_count(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    dead = Journal(path)
    lobby = dead.camera("lobby", None)
    lobby.save([summary("t1"), summary("t2", best_detection_id="")], [], None)
    lobby.save([summary("t1", box_count=30)], [], None)  # its latest summary replaces the first
    dead.camera("gate", None).save([summary("t3", "gate")], [], None)
    # The process dies here: nothing ends these three tracks.

    restarted = Journal(path)
    sink = RecordingSink()
    assert restarted.recover(sink) == 3
    assert sorted(sink.tracks, key=lambda s: s.track_id) == [
        summary("t1", box_count=30, ended=True),
        summary("t2", best_detection_id="", ended=True),
        summary("t3", "gate", ended=True),
    ]
    assert [(e.name, e.severity, e.camera_id, dict(e.attributes)) for e in sink.events] == [
        ("tracks.interrupted", EventSeverity.WARNING, "gate", {"count": "1", "camera": "gate"}),
        ("tracks.interrupted", EventSeverity.WARNING, "lobby", {"count": "2", "camera": "lobby"}),
    ]
    assert restarted.tracks_interrupted_total() == 3
    # Recovered once: the next start finds nothing; the total persists.
    restarted.close()
    again = Journal(path)
    assert again.recover(RecordingSink()) == 0
    assert again.tracks_interrupted_total() == 3


def test_a_track_whose_final_summary_was_handed_on_is_forgotten(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    lobby = journal.camera("lobby", None)
    lobby.save([summary("t1"), summary("t2")], [], None)
    lobby.save([], ["t1"], None)
    sink = RecordingSink()
    assert Journal(tmp_path / "journal.sqlite").recover(sink) == 1
    assert [s.track_id for s in sink.tracks] == ["t2"]


def test_a_clean_start_recovers_nothing_and_sends_nothing() -> None:
    journal = Journal(None)  # in memory, as with delivery: null
    sink = RecordingSink()
    assert journal.recover(sink) == 0
    assert (sink.tracks, sink.events, journal.tracks_interrupted_total()) == ([], [], 0)


def test_a_file_resumes_after_its_last_saved_frame_and_a_changed_one_starts_over(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.sqlite"
    assert Journal(path).camera("lobby", VIDEO).resume_after is None  # never read
    first = Journal(path)
    lobby = first.camera("lobby", VIDEO)
    lobby.save([summary("t1")], [], 41)
    lobby.save([], ["t1"], 57)
    first.camera("gate", None).save([], [], 99)  # a live source: no position kept
    assert Journal(path).camera("lobby", VIDEO).resume_after == 57
    assert Journal(path).camera("gate", None).resume_after is None
    for changed in (
        FileIdentity(VIDEO.path, VIDEO.size + 1, VIDEO.mtime_ns),
        FileIdentity(VIDEO.path, VIDEO.size, VIDEO.mtime_ns + 1),
        FileIdentity("/videos/other.avi", VIDEO.size, VIDEO.mtime_ns),
    ):
        assert Journal(path).camera("lobby", changed).resume_after is None
    # Another camera's position is its own.
    assert Journal(path).camera("side", VIDEO).resume_after is None


def test_a_file_identity_is_its_resolved_path_size_and_mtime(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    video.write_bytes(b"x" * 10)
    os.utime(video, ns=(1, 2_000_000_000))
    (tmp_path / "link.avi").symlink_to(video)
    identity = SourceSettings(url=str(tmp_path / "link.avi")).file_identity()
    assert identity == FileIdentity(str(video.resolve()), 10, 2_000_000_000)
    assert SourceSettings(url=str(tmp_path / "missing.avi")).file_identity() is None
    assert SourceSettings(url="rtsp://camera/stream").file_identity() is None


def test_the_journal_lives_beside_the_outbox_unless_configured(tmp_path: Path) -> None:
    outbox = tmp_path / "spool" / "outbox.sqlite"
    assert journal_path(JournalSettings(), outbox) == tmp_path / "spool" / "outbox.journal.sqlite"
    assert journal_path(JournalSettings(), None) is None  # delivery null: in memory
    chosen = tmp_path / "j.sqlite"
    assert journal_path(JournalSettings(path=chosen), outbox) == chosen
    assert journal_path(JournalSettings(path=chosen), None) == chosen
    with pytest.raises(ValueError, match="extra"):
        JournalSettings.model_validate({"file": "x"})


class CountingJournal:
    """A TrackJournal that keeps every write."""

    def __init__(self) -> None:
        self.writes: list[tuple[list[TrackSummary], list[str], int | None]] = []

    @property
    def resume_after(self) -> int | None:
        return None

    def save(self, tracks: list[TrackSummary], ended: list[str], position: int | None) -> None:
        self.writes.append((list(tracks), list(ended), position))


def test_the_ledger_writes_on_confirmation_crop_and_end_never_per_frame(
    vtest_frames: list[np.ndarray],
) -> None:
    journal = CountingJournal()
    sink = RecordingSink()
    settings = CropSettings(first_crop_after_s=0.3, emit_interval_s=None)
    book = TrackLedger(settings, camera_id="lobby", model=MODEL, sink=sink, journal=journal)
    frame = vtest_frames[0]
    for index in range(9):
        state = TrackState.NEW if index == 1 else TrackState.UPDATED
        updates = [track_update(index, state)] if index >= 1 else []
        book.observe(frame, START + timedelta(seconds=index / 10), updates, position=index + 100)
    book.end([track_update(9, TrackState.ENDED, hits=8)])
    (track_id,) = {s.track_id for s in sink.tracks}
    # Confirmed on frame 1; first crop on frame 4 (0.3 s later); ended by the flush after
    # frame 8: three writes for nine frames, each after the sink got that frame's records.
    assert [(len(tracks), ended, position) for tracks, ended, position in journal.writes] == [
        (1, [], 101),
        (1, [], 104),
        (0, [track_id], 108),
    ]
    confirmed, first_crop = journal.writes[0][0][0], journal.writes[1][0][0]
    assert (confirmed.best_detection_id, confirmed.box_count, confirmed.ended) == ("", 2, False)
    assert first_crop == sink.tracks[0]  # the interim summary handed on with the first crop
    assert first_crop.best_detection_id == sink.crops[0].detection_id


def test_a_clean_end_records_the_position_even_without_tracks(
    vtest_frames: list[np.ndarray],
) -> None:
    journal = CountingJournal()
    book = TrackLedger(
        CropSettings(), camera_id="lobby", model=MODEL, sink=RecordingSink(), journal=journal
    )
    book.end([])  # nothing observed: nothing to record
    book.observe(vtest_frames[0], START, [], position=7)
    book.end([])
    assert journal.writes == [([], [], 7)]


def test_after_a_crash_only_views_not_yet_sent_are_lost(
    tmp_path: Path, vtest_frames: list[np.ndarray]
) -> None:
    path = tmp_path / "journal.sqlite"
    sink = RecordingSink()
    book = TrackLedger(
        CropSettings(first_crop_after_s=0.2),
        camera_id="lobby",
        model=MODEL,
        sink=sink,
        journal=Journal(path).camera("lobby", VIDEO),
    )
    frame = vtest_frames[0]
    for index in range(6):
        state = TrackState.NEW if index == 0 else TrackState.UPDATED
        book.observe(
            frame, START + timedelta(seconds=index / 10), [track_update(index, state)], 50 + index
        )
    # kill -9 here: the track is in progress, its first crop already sent.
    (crop,) = sink.crops
    restarted = Journal(path)
    assert restarted.camera("lobby", VIDEO).resume_after == 52  # the frame of the first crop
    recovered = RecordingSink()
    assert restarted.recover(recovered) == 1
    (final,) = recovered.tracks
    assert final.ended and final.best_detection_id == crop.detection_id
    assert (final.first_seen, final.last_seen) == (START, START + timedelta(seconds=0.2))
