"""TrackLedger: one state per track, ids made once, crops before the summaries that name them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from edge.crops.selector import CropSettings
from edge.geometry import Box
from edge.pipelines.tracks import Emitted, TrackLedger
from edge.records import Crop, ModelRef, PathPoint, TrackSummary
from edge.tracking.base import TrackState, TrackUpdate
from tests.edge.sinks import RecordingSink
from tests.edge.updates import PERSON, track_update

# In vtest.avi, the man on the road behind the lamp post.
WALKER = Box(498.0, 155.0, 532.0, 235.0)
START = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = ModelRef("nanodet-g", "1")


def at(index: int) -> datetime:
    """Capture time of frame `index` at 10 fps."""
    return START + timedelta(seconds=index / 10)


def ledger(sink: RecordingSink, **settings: object) -> TrackLedger:
    return TrackLedger(
        CropSettings.model_validate(settings), camera_id="lobby", model=MODEL, sink=sink
    )


def run(
    book: TrackLedger, frames: Sequence[np.ndarray], updates: dict[int, list[TrackUpdate]]
) -> list[Emitted]:
    """Feed every frame (with its updates, if any) in order."""
    return [
        book.observe(frame, at(index), updates.get(index, [])) for index, frame in enumerate(frames)
    ]


def test_a_confirmed_track_gets_one_uuid7_its_crop_and_a_final_summary(
    vtest_frames: list[np.ndarray],
) -> None:
    sink = RecordingSink()
    # Detected from frame 0, confirmed on frame 1 (min_hits 2), sharpest on frame 3, gone on 6.
    updates = {1: [track_update(1, TrackState.NEW, score=0.6)]}
    updates |= {i: [track_update(i, score=0.9 if i == 3 else 0.6)] for i in (2, 3, 4, 5)}
    updates[6] = [track_update(6, TrackState.ENDED, hits=6)]
    emitted = run(ledger(sink, emit_interval_s=None), vtest_frames[:7], updates)
    assert [e.tracks for e in emitted] == [0, 1, 0, 0, 0, 0, 0]
    assert [e.crops for e in emitted] == [0, 0, 0, 0, 0, 0, 1]
    (crop,) = sink.crops
    (summary,) = sink.tracks
    assert sink.order == [crop, summary]
    assert uuid.UUID(summary.track_id).version == 7
    assert uuid.UUID(crop.detection_id).version == 7
    assert (crop.track_id, crop.camera_id, crop.model, crop.label) == (
        summary.track_id,
        "lobby",
        MODEL,
        "person",
    )
    assert (crop.frame_time, crop.score, crop.box) == (at(3), 0.9, PERSON)
    assert crop.frame_size == (768, 576)
    # 10% padding around a 40 x 94 box; the JPEG shows exactly that region of frame 3.
    assert crop.crop_box == (244, 206, 292, 320)
    image = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    assert image.shape == (114, 48, 3)
    expected = vtest_frames[3][206:320, 244:292].astype(int)
    assert np.abs(image.astype(int) - expected).mean() < 5
    assert summary == TrackSummary(
        track_id=summary.track_id,
        camera_id="lobby",
        label="person",
        first_seen=at(0),  # the first detection, a frame before confirmation
        last_seen=at(5),  # the last matched frame, not the ENDED one
        best_detection_id=crop.detection_id,
        best_score=0.9,
        box_count=6,
        ended=True,
        path=summary.path,
    )
    # The path: the box centre of every matched frame since confirmation, normalised.
    centre = PathPoint(at(1), 268 / 768, 263 / 576)
    assert summary.path == tuple(replace(centre, time=at(i)) for i in range(1, 6))


def test_the_best_crop_of_an_emission_carries_the_whole_frame_downscaled(
    vtest_frames: list[np.ndarray],
) -> None:
    sink = RecordingSink()
    updates = {i: [track_update(i, score=0.9 if i == 2 else 0.6)] for i in range(1, 4)}
    updates[4] = [track_update(4, TrackState.ENDED)]
    run(ledger(sink, top_k=2, emit_interval_s=None, context_width=320), vtest_frames[:5], updates)
    best, second = sink.crops
    assert second.context_jpeg == b""  # one context frame per emission
    context = cv2.imdecode(np.frombuffer(best.context_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert context is not None, "not a JPEG"
    assert context.shape == (240, 320, 3)  # 768 x 576 at most 320 wide, aspect kept
    expected = cv2.resize(vtest_frames[2], (320, 240), interpolation=cv2.INTER_AREA)
    assert np.abs(context.astype(int) - expected.astype(int)).mean() < 5  # frame 2, the best


def test_no_context_frame_when_it_is_switched_off(vtest_frames: list[np.ndarray]) -> None:
    sink = RecordingSink()
    updates = {1: [track_update(1)], 2: [track_update(2, TrackState.ENDED)]}
    run(ledger(sink, context_width=None), vtest_frames[:3], updates)
    (crop,) = sink.crops
    assert crop.jpeg and crop.context_jpeg == b""


def test_crops_reach_the_sink_before_the_summaries_with_ids_in_creation_order(
    vtest_frames: list[np.ndarray],
) -> None:
    sink = RecordingSink()
    updates = {
        i: [track_update(i, number=1), track_update(i, number=2, box=WALKER, score=0.6)]
        for i in range(3)
    }
    updates[3] = [
        track_update(3, TrackState.ENDED, number=1),
        track_update(3, TrackState.ENDED, number=2, box=WALKER),
    ]
    run(ledger(sink, top_k=2, emit_interval_s=None), vtest_frames[:4], updates)
    assert [type(item) for item in sink.order] == [Crop] * 4 + [TrackSummary] * 2
    ids = [crop.detection_id for crop in sink.crops]
    assert len(set(ids)) == 4
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids)  # UUIDv7 sorts by creation time
    # Tracks are kept apart: each crop is of its own track, each summary names its own crop.
    person, walker = sink.tracks
    assert person.track_id != walker.track_id
    assert [(c.track_id, c.box) for c in sink.crops] == [
        (person.track_id, PERSON),
        (person.track_id, PERSON),
        (walker.track_id, WALKER),
        (walker.track_id, WALKER),
    ]
    assert (person.best_detection_id, walker.best_detection_id) == (ids[0], ids[2])


def test_a_track_is_visible_early_then_improves_only_with_a_better_crop(
    vtest_frames: list[np.ndarray],
) -> None:
    sink = RecordingSink()
    # All on frame 0's pixels, so a crop's quality follows its score.
    scores = {0: 0.6, 1: 0.5, 2: 0.5, 3: 0.5, 4: 0.5, 5: 0.5, 6: 0.9, 7: 0.5}
    updates = {
        i: [track_update(i, TrackState.NEW if i == 0 else TrackState.UPDATED, score=score)]
        for i, score in scores.items()
    }
    updates[8] = [track_update(8, TrackState.ENDED, hits=8)]
    book = ledger(sink, first_crop_after_s=0.2, emit_interval_s=0.5)
    emitted = run(book, [vtest_frames[0]] * 9, updates)
    assert [e.crops for e in emitted] == [0, 0, 1, 0, 0, 0, 0, 0, 1]
    # Frame 2 (0.2 s after confirmation): the first crop, the best view so far (frame 0), and
    # an interim summary naming it. Frame 5 (the 0.5 s interval): nothing better came, so no
    # crop, only a fresher interim summary. Frame 8 (the end): the better view of frame 6.
    first, better = sink.crops
    assert [type(item) for item in sink.order] == [
        Crop,
        TrackSummary,
        TrackSummary,
        Crop,
        TrackSummary,
    ]
    assert (first.frame_time, first.score) == (at(0), 0.6)
    assert (better.frame_time, better.score) == (at(6), 0.9)
    early, interval, final = sink.tracks
    assert len({early.track_id, interval.track_id, final.track_id}) == 1
    assert (early.ended, early.last_seen, early.box_count) == (False, at(2), 3)
    assert (early.best_detection_id, early.best_score) == (first.detection_id, 0.6)
    assert (interval.ended, interval.last_seen, interval.box_count) == (False, at(5), 6)
    assert interval.best_detection_id == first.detection_id
    assert (final.ended, final.last_seen, final.box_count) == (True, at(7), 8)
    assert (final.best_detection_id, final.best_score) == (better.detection_id, 0.9)


def test_a_short_track_costs_one_crop(vtest_frames: list[np.ndarray]) -> None:
    sink = RecordingSink()
    updates = {0: [track_update(0, TrackState.NEW)], 1: [track_update(1)]}
    updates[2] = [track_update(2, TrackState.ENDED, hits=2)]
    run(ledger(sink), vtest_frames[:3], updates)  # default settings: first crop after 0.5 s
    (crop,) = sink.crops
    (summary,) = sink.tracks
    assert sink.order == [crop, summary]
    assert summary.ended and summary.best_detection_id == crop.detection_id


def test_lost_updates_keep_the_last_seen_time(vtest_frames: list[np.ndarray]) -> None:
    sink = RecordingSink()
    updates = {0: [track_update(0, TrackState.NEW)], 1: [track_update(1)]}
    updates |= {i: [track_update(i, TrackState.LOST, hits=2)] for i in (2, 3)}
    updates[4] = [track_update(4, TrackState.ENDED, hits=2)]
    run(ledger(sink, emit_interval_s=None), vtest_frames[:5], updates)
    (summary,) = sink.tracks
    assert (summary.first_seen, summary.last_seen, summary.box_count) == (at(0), at(1), 2)


def test_end_takes_the_flushed_tracks_and_nothing_else(vtest_frames: list[np.ndarray]) -> None:
    sink = RecordingSink()
    book = ledger(sink, emit_interval_s=None)
    run(book, vtest_frames[:3], {i: [track_update(i)] for i in range(3)})
    with pytest.raises(ValueError, match="ENDED updates"):
        book.end([track_update(3)])
    assert book.end([]) == Emitted(0, 0)
    assert book.end([track_update(3, TrackState.ENDED, hits=3)]) == Emitted(0, 1)
    (summary,) = sink.tracks
    assert summary.ended
    assert summary.best_detection_id == sink.crops[0].detection_id
