from __future__ import annotations

from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest

from edge.crops.image import pixel_rect
from edge.crops.selector import BestCrops, Candidate, CropSettings, Emission
from edge.geometry import Box
from edge.tracking.base import TrackState, TrackUpdate
from tests.edge.updates import PERSON, track_update

START = datetime(2026, 1, 1, tzinfo=UTC)


def step(crops: BestCrops, frame: np.ndarray, update: TrackUpdate) -> list[Candidate]:
    """One frame of the track, as the track ledger feeds it: consider, then take what is due."""
    crops.consider(frame, START + timedelta(seconds=update.timestamp), update)
    due = crops.due(update)
    return due.candidates if due else []


def blur_person(frame: np.ndarray) -> np.ndarray:
    """The frame with the person motion-blurred, as when they move fast or the camera shakes."""
    blurred = frame.copy()
    rect = pixel_rect(PERSON, frame.shape[1], frame.shape[0], padding=0.2)
    region = blurred[rect.y1 : rect.y2, rect.x1 : rect.x2]
    region[:] = cv2.GaussianBlur(region, (9, 9), 3.0)
    return blurred


def test_it_hands_over_the_sharpest_view_when_the_track_ends(
    vtest_frames: list[np.ndarray],
) -> None:
    settings = CropSettings(first_crop_after_s=None, emit_interval_s=None)
    crops = BestCrops(settings, window_start=0.0)
    emitted = []
    for index, frame in enumerate(vtest_frames[:6]):
        shown = frame if index == 3 else blur_person(frame)
        state = TrackState.NEW if index == 0 else TrackState.UPDATED
        emitted += step(crops, shown, track_update(index, state))
    assert emitted == []
    (best,) = step(crops, vtest_frames[6], track_update(6, TrackState.ENDED))
    assert best.frame_index == 3
    assert best.frame_time == START + timedelta(seconds=0.3)
    assert best.box == PERSON
    # 10% padding around a 40 x 94 box.
    assert best.crop_box == (244, 206, 292, 320)
    assert best.frame_size == (768, 576)
    assert best.pixels.shape == (114, 48, 3)
    assert np.array_equal(best.pixels, vtest_frames[3][206:320, 244:292])


def test_top_k_hands_over_the_best_views_ranked(vtest_frames: list[np.ndarray]) -> None:
    crops = BestCrops(CropSettings(top_k=3, emit_interval_s=None), window_start=0.0)
    scores = [0.5, 0.9, 0.6, 0.8, 0.7]
    for index, score in enumerate(scores):
        step(crops, vtest_frames[0], track_update(index, score=score))
    due = step(crops, vtest_frames[0], track_update(5, TrackState.ENDED))
    assert [(rank, c.frame_index, c.score) for rank, c in enumerate(due)] == [
        (0, 1, 0.9),
        (1, 3, 0.8),
        (2, 4, 0.7),
    ]
    assert due[0].quality > due[1].quality > due[2].quality


def sharper_and_sharper(frames: list[np.ndarray]) -> list[np.ndarray]:
    """vtest.avi's first frames backwards: the man walks into the fixed PERSON box, so every
    view of it is sharper than the ones before."""
    return frames[::-1]


def test_a_long_track_hands_over_once_per_interval(vtest_frames: list[np.ndarray]) -> None:
    settings = CropSettings(first_crop_after_s=None, emit_interval_s=0.35)
    crops = BestCrops(settings, window_start=0.0)
    emitted = {}
    for index, frame in enumerate(sharper_and_sharper(vtest_frames)):
        update = track_update(index, TrackState.ENDED if index == 9 else TrackState.UPDATED)
        for candidate in step(crops, frame, update):
            emitted[index] = (update.state, candidate.frame_index)
    # Windows start at 0.0 s and 0.4 s, each hands over its best (its sharpest) view; the last
    # one (0.8-0.9 s) is cut short by the end, which only sees a predicted box.
    assert emitted == {4: (TrackState.UPDATED, 4), 8: (TrackState.UPDATED, 8)}


def test_the_end_hands_over_what_the_last_interval_left(vtest_frames: list[np.ndarray]) -> None:
    settings = CropSettings(first_crop_after_s=None, emit_interval_s=0.35)
    crops = BestCrops(settings, window_start=0.0)
    emitted = {}
    for index, frame in enumerate(sharper_and_sharper(vtest_frames)[:8]):
        update = track_update(index, TrackState.ENDED if index == 7 else TrackState.UPDATED)
        for candidate in step(crops, frame, update):
            emitted[index] = (update.state, candidate.frame_index)
    assert emitted == {4: (TrackState.UPDATED, 4), 7: (TrackState.ENDED, 6)}


def test_lost_updates_are_never_candidates(vtest_frames: list[np.ndarray]) -> None:
    crops = BestCrops(CropSettings(emit_interval_s=None), window_start=0.0)
    step(crops, vtest_frames[0], track_update(0, TrackState.NEW, score=0.5))
    for index in (1, 2, 3):
        # A predicted box on the man's face would score better, but it is only a guess.
        step(crops, vtest_frames[index], track_update(index, TrackState.LOST, score=0.99))
    (best,) = step(crops, vtest_frames[4], track_update(4, TrackState.ENDED))
    assert best.frame_index == 0
    # What was handed over is forgotten.
    assert step(crops, vtest_frames[5], track_update(5, TrackState.ENDED)) == []


def test_a_box_outside_the_frame_is_no_candidate(vtest_frames: list[np.ndarray]) -> None:
    crops = BestCrops(CropSettings(), window_start=0.0)
    outside = Box(900.0, 100.0, 950.0, 200.0)
    step(crops, vtest_frames[0], track_update(0, box=outside))
    assert step(crops, vtest_frames[1], track_update(1, TrackState.ENDED, box=outside)) == []


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="jpeg_quality"):
        CropSettings(jpeg_quality=0)
    with pytest.raises(ValueError, match="emit_interval_s"):
        CropSettings(emit_interval_s=0)
    with pytest.raises(ValueError, match="first_crop_after_s"):
        CropSettings(first_crop_after_s=-0.5)


def scored(
    crops: BestCrops, frames: list[np.ndarray], scores: dict[int, float]
) -> dict[int, tuple[Emission, list[int]]]:
    """Feed one update per frame with the given detector scores (the last one ENDED), all on
    the first frame's pixels, so that quality follows the score; return what was due, by
    frame: the reason and the frames of the candidates."""
    emitted = {}
    last = max(scores)
    for index, score in scores.items():
        state = TrackState.ENDED if index == last else TrackState.UPDATED
        update = track_update(index, state, score=score)
        crops.consider(frames[0], START + timedelta(seconds=update.timestamp), update)
        if (due := crops.due(update)) is not None:
            emitted[index] = (due.reason, [c.frame_index for c in due.candidates])
    return emitted


def test_the_first_crop_comes_once_the_track_was_seen_for_first_crop_after_s(
    vtest_frames: list[np.ndarray],
) -> None:
    settings = CropSettings(first_crop_after_s=0.3, emit_interval_s=None)
    crops = BestCrops(settings, window_start=0.0)
    emitted = scored(crops, vtest_frames, {0: 0.5, 1: 0.7, 2: 0.6, 3: 0.55, 4: 0.5})
    # Due on frame 3, 0.3 s after confirmation: the best view so far, from frame 1. Nothing
    # better came since, so the track's end (frame 4) costs no second crop.
    assert emitted == {3: (Emission.FIRST, [1]), 4: (Emission.END, [])}


def test_later_emissions_send_only_a_view_better_than_the_best_sent(
    vtest_frames: list[np.ndarray],
) -> None:
    settings = CropSettings(first_crop_after_s=0.2, emit_interval_s=0.4)
    scores = {0: 0.6, 1: 0.5, 2: 0.5, 3: 0.5, 4: 0.5, 5: 0.7, 6: 0.65, 7: 0.99, 8: 0.5}
    emitted = scored(BestCrops(settings, window_start=0.0), vtest_frames, scores)
    assert emitted == {
        2: (Emission.FIRST, [0]),
        4: (Emission.INTERVAL, []),  # nothing since was better than frame 0: no crop
        8: (Emission.END, [7]),  # the best view since, better than frame 0
    }


def test_a_short_track_costs_one_crop_at_its_end(vtest_frames: list[np.ndarray]) -> None:
    settings = CropSettings(first_crop_after_s=1.0, emit_interval_s=10.0)
    emitted = scored(BestCrops(settings, window_start=0.0), vtest_frames, {0: 0.6, 1: 0.8, 2: 0.7})
    assert emitted == {2: (Emission.END, [1])}


def test_the_end_sends_a_better_view_than_the_first_crop(vtest_frames: list[np.ndarray]) -> None:
    settings = CropSettings(first_crop_after_s=0.1, emit_interval_s=None)
    scores = {0: 0.5, 1: 0.6, 2: 0.9, 3: 0.5}
    emitted = scored(BestCrops(settings, window_start=0.0), vtest_frames, scores)
    assert emitted == {1: (Emission.FIRST, [1]), 3: (Emission.END, [2])}
