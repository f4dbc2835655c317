"""ByteTrack on synthetic scenes: people walking, crossing, occluded, flickering and ghosts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from pydantic import ValidationError

from edge.tracking.base import Tracker, TrackState, TrackUpdate
from edge.tracking.bytetrack import ByteTrackSettings, ByteTrackTracker
from edge.tracking.matching import iou_matrix
from edge.tracking.registry import create_tracker

FPS = 10.0


@dataclass(frozen=True)
class Det:
    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 0.9
    class_id: int = 0
    label: str = "person"


@dataclass(frozen=True)
class Walker:
    """A box moving at constant velocity, seen from frame `start` to frame `end` (exclusive)."""

    box: tuple[float, float, float, float]
    velocity: tuple[float, float]
    start: int = 0
    end: int = 10_000
    score: float = 0.9

    def box_at(self, frame: int) -> np.ndarray:
        dx, dy = self.velocity[0] * frame, self.velocity[1] * frame
        x1, y1, x2, y2 = self.box
        return np.array([x1 + dx, y1 + dy, x2 + dx, y2 + dy])


def scene(
    walkers: Sequence[Walker],
    frames: int,
    *,
    hidden: set[tuple[int, int]] | None = None,
    seed: int = 0,
) -> list[list[Det]]:
    """Per-frame detections with 1.5 px jitter; (walker, frame) pairs in `hidden` are missed."""
    rng = np.random.default_rng(seed)
    hidden = hidden or set()
    out: list[list[Det]] = []
    for frame in range(frames):
        dets = []
        for index, walker in enumerate(walkers):
            if walker.start <= frame < walker.end and (index, frame) not in hidden:
                x1, y1, x2, y2 = walker.box_at(frame) + rng.normal(0, 1.5, 4)
                dets.append(Det(x1, y1, x2, y2, score=walker.score))
        out.append(dets)
    return out


def run(tracker: Tracker, frames: Sequence[Sequence[Det]]) -> list[list[TrackUpdate]]:
    return [tracker.update(dets, i, i / FPS) for i, dets in enumerate(frames)]


def walker_of(update: TrackUpdate, walkers: Sequence[Walker]) -> int | None:
    """Index of the walker whose true box best overlaps the update's box; None if that is a toss-up
    (two walkers at the same spot, where any answer would be luck)."""
    box = np.array([[update.box.x1, update.box.y1, update.box.x2, update.box.y2]])
    truth = np.array([w.box_at(update.frame_index) for w in walkers])
    overlaps = iou_matrix(box, truth)[0]
    ranked = np.sort(overlaps)[::-1]
    if len(ranked) > 1 and ranked[0] - ranked[1] < 0.1:
        return None
    return int(overlaps.argmax())


def identities(history: list[list[TrackUpdate]], walkers: Sequence[Walker]) -> dict[int, set[int]]:
    """For each track id, the set of walkers its detection-backed updates landed on."""
    seen: dict[int, set[int]] = defaultdict(set)
    for updates in history:
        for update in updates:
            walker = walker_of(update, walkers)
            if update.state in (TrackState.NEW, TrackState.UPDATED) and walker is not None:
                seen[update.track_number].add(walker)
    return dict(seen)


def tracker(**overrides: float) -> ByteTrackTracker:
    return ByteTrackTracker(ByteTrackSettings.model_validate(overrides), camera_id="cam-test")


def test_two_people_crossing_keep_their_ids() -> None:
    # A near person walking right and a slightly smaller, farther one walking left: their boxes
    # overlap heavily around frame 20, and both stay detected.
    walkers = [
        Walker((40.0, 100.0, 120.0, 300.0), (12.0, 0.5)),
        Walker((520.0, 120.0, 590.0, 280.0), (-12.0, -0.3)),
    ]
    history = run(tracker(), scene(walkers, 40))
    assert identities(history, walkers) == {1: {0}, 2: {1}}


def test_a_person_hidden_behind_another_comes_back_with_the_same_id() -> None:
    walkers = [
        Walker((40.0, 100.0, 120.0, 300.0), (12.0, 0.0)),
        Walker((520.0, 100.0, 600.0, 300.0), (-12.0, 0.0)),
    ]
    frames = 40
    # The farther walker 0 is not detected while walker 1 covers it (IoU above 0.2).
    hidden = {
        (0, f)
        for f in range(frames)
        if iou_matrix(walkers[0].box_at(f)[None], walkers[1].box_at(f)[None])[0, 0] > 0.2
    }
    assert len(hidden) >= 4, "the scene must really occlude someone"
    history = run(tracker(), scene(walkers, frames, hidden=hidden))
    assert identities(history, walkers) == {1: {0}, 2: {1}}
    states_of_walker0 = [u.state for updates in history for u in updates if u.track_number == 1]
    assert TrackState.LOST in states_of_walker0
    assert TrackState.ENDED not in states_of_walker0


def test_a_missed_frame_reports_lost_then_the_same_track_again() -> None:
    walker = Walker((100.0, 100.0, 160.0, 260.0), (5.0, 0.0))
    history = run(tracker(), scene([walker], 12, hidden={(0, 6)}))
    states = [[(u.track_number, u.state) for u in updates] for updates in history]
    assert states[0] == []  # not confirmed yet: min_hits is 2
    assert states[1] == [(1, TrackState.NEW)]
    assert states[5] == [(1, TrackState.UPDATED)]
    assert states[6] == [(1, TrackState.LOST)]
    assert states[7] == [(1, TrackState.UPDATED)]
    lost = history[6][0]
    # While lost, the box is the motion model's guess: near where the walker really was.
    assert walker_of(lost, [walker]) == 0
    assert abs(lost.box.x1 - walker.box_at(6)[0]) < 5.0
    assert history[11][0].hits == 11
    assert history[11][0].age == 12


def test_frames_kept_from_the_tracker_still_move_its_predictions() -> None:
    # Motion gating: after 10 frames the tracker sees only every 4th frame. A walker moving 12
    # px per frame has moved 48 px, most of its 60 px width, over a gap; predicting one frame
    # per update would leave the box behind and the track lost, then replaced.
    walker = Walker((100.0, 100.0, 160.0, 260.0), (12.0, 0.0))
    frames = scene([walker], 40)
    shown = [*range(10), *range(10, 40, 4)]
    tracks = tracker()
    history = [tracks.update(frames[i], i, i / FPS) for i in shown]
    assert {update.track_number for updates in history for update in updates} == {1}
    after_gaps = history[len(range(10)) :]
    assert all(update.state is TrackState.UPDATED for updates in after_gaps for update in updates)


def test_a_single_frame_ghost_never_becomes_a_track() -> None:
    walker = Walker((100.0, 100.0, 160.0, 260.0), (5.0, 0.0))
    frames = scene([walker], 10)
    frames[4] = [*frames[4], Det(500.0, 300.0, 560.0, 420.0, score=0.95)]
    history = run(tracker(), frames)
    assert {u.track_number for updates in history for u in updates} == {1}


def test_a_low_score_detection_extends_a_track_but_never_starts_one() -> None:
    walker = Walker((100.0, 100.0, 160.0, 260.0), (5.0, 0.0))
    frames = scene([walker], 12)
    weak = scene([Walker((400.0, 100.0, 460.0, 260.0), (0.0, 0.0), score=0.3)], 12)
    for f in range(5, 9):
        # The tracked person is partly occluded: the detector is unsure of them.
        (det,) = frames[f]
        frames[f] = [Det(det.x1, det.y1, det.x2, det.y2, score=0.3), *weak[f]]
    history = run(tracker(), frames)
    assert [[(u.track_number, u.state) for u in history[f]] for f in range(5, 9)] == [
        [(1, TrackState.UPDATED)]
    ] * 4


def test_a_track_ends_once_after_the_lost_buffer() -> None:
    walker = Walker((100.0, 100.0, 160.0, 260.0), (5.0, 0.0), end=10)
    history = run(tracker(lost_track_buffer_s=1.0), scene([walker], 30))
    states = [u.state for updates in history for u in updates]
    assert states.count(TrackState.ENDED) == 1
    # Last seen at t=0.9 s; still lost at 1.9 s (1.0 s gone), ended at 2.0 s.
    assert history[19][0].state is TrackState.LOST
    ended = history[20][0]
    assert ended.state is TrackState.ENDED
    assert ended.hits == 10
    # The ENDED box is the last real detection, not a prediction that drifted for a second.
    assert abs(ended.box.x1 - walker.box_at(9)[0]) < 5.0
    assert all(updates == [] for updates in history[21:])


def test_a_track_reports_its_majority_class() -> None:
    walker = Walker((100.0, 100.0, 260.0, 200.0), (4.0, 0.0))
    frames = scene([walker], 6)
    classes = [(2, "car"), (7, "truck"), (2, "car"), (7, "truck"), (2, "car"), (7, "truck")]
    scores = [0.6, 0.9, 0.6, 0.9, 0.6, 0.5]
    relabelled = [
        [Det(d.x1, d.y1, d.x2, d.y2, score=s, class_id=c, label=name) for d in dets]
        for dets, (c, name), s in zip(frames, classes, scores, strict=True)
    ]
    history = run(tracker(), relabelled)
    # Frame 1: one vote each, truck has the higher score sum.
    assert (history[1][0].class_id, history[1][0].label) == (7, "truck")
    # Frame 4: car 3 votes, truck 2.
    assert (history[4][0].class_id, history[4][0].label) == (2, "car")
    # Frame 5: 3 votes each; truck's scores sum to 2.3 against car's 1.8.
    assert history[5][0].label == "truck"


def test_flush_ends_every_live_track() -> None:
    walkers = [
        Walker((100.0, 100.0, 160.0, 260.0), (5.0, 0.0)),
        Walker((400.0, 100.0, 460.0, 260.0), (-5.0, 0.0), end=4),
    ]
    live = ByteTrackTracker(ByteTrackSettings())
    run(live, scene(walkers, 6))
    ended = live.flush(6, 0.6)
    assert [(u.track_number, u.state) for u in ended] == [
        (1, TrackState.ENDED),
        (2, TrackState.ENDED),
    ]
    assert live.update([], 7, 0.7) == []


def test_ids_count_only_confirmed_tracks() -> None:
    walker = Walker((100.0, 100.0, 160.0, 260.0), (5.0, 0.0), start=3)
    frames = scene([walker], 8)
    frames[0] = [Det(500.0, 300.0, 560.0, 420.0)]  # a ghost that would burn id 1
    history = run(tracker(), frames)
    assert {u.track_number for updates in history for u in updates} == {1}


def test_min_hits_delays_confirmation() -> None:
    walker = Walker((100.0, 100.0, 160.0, 260.0), (5.0, 0.0))
    history = run(tracker(min_hits=4), scene([walker], 6))
    assert [len(u) for u in history] == [0, 0, 0, 1, 1, 1]
    assert history[3][0].state is TrackState.NEW
    assert history[3][0].age == 4


def test_frames_must_advance() -> None:
    live = tracker()
    live.update([], 5, 0.5)
    with pytest.raises(ValueError, match="does not follow"):
        live.update([], 5, 0.5)


def test_score_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="low_score < high_score <= new_track_score"):
        ByteTrackSettings(low_score=0.5, high_score=0.4)
    with pytest.raises(ValidationError, match="extra"):
        ByteTrackSettings.model_validate({"track_thresh": 0.5})


def test_the_registry_builds_bytetrack_from_settings() -> None:
    built = create_tracker(ByteTrackSettings.model_validate({"type": "bytetrack"}), camera_id="c")
    assert isinstance(built, ByteTrackTracker)
