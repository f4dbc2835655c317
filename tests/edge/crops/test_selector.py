from __future__ import annotations

import uuid

import cv2
import numpy as np
import pytest

from edge.crops.image import pixel_rect
from edge.crops.selector import BestCropSelector, CropSettings, EmitReason
from edge.geometry import Box
from edge.tracking.base import TrackState, TrackUpdate

# The man standing on the grass in vtest.avi; he barely moves in the first 10 frames.
PERSON = Box(248.0, 216.0, 288.0, 310.0)


def update(
    frame_index: int,
    state: TrackState = TrackState.UPDATED,
    *,
    score: float = 0.8,
    box: Box = PERSON,
    track_number: int = 1,
) -> TrackUpdate:
    return TrackUpdate(
        track_number=track_number,
        state=state,
        box=box,
        score=score,
        class_id=0,
        label="person",
        frame_index=frame_index,
        timestamp=frame_index / 10,
        age=frame_index + 1,
        hits=frame_index + 1,
    )


def blur_person(frame: np.ndarray) -> np.ndarray:
    """The frame with the person motion-blurred, as when they move fast or the camera shakes."""
    blurred = frame.copy()
    rect = pixel_rect(PERSON, frame.shape[1], frame.shape[0], padding=0.2)
    region = blurred[rect.y1 : rect.y2, rect.x1 : rect.x2]
    region[:] = cv2.GaussianBlur(region, (9, 9), 3.0)
    return blurred


def test_it_emits_the_sharpest_crop_when_the_track_ends(vtest_frames: list[np.ndarray]) -> None:
    selector = BestCropSelector(CropSettings(emit_interval_s=None))
    emitted = []
    for index, frame in enumerate(vtest_frames[:6]):
        shown = frame if index == 3 else blur_person(frame)
        state = TrackState.NEW if index == 0 else TrackState.UPDATED
        emitted += selector.observe(shown, [update(index, state)])
    assert emitted == []
    (crop,) = selector.observe(vtest_frames[6], [update(6, TrackState.ENDED)])
    assert (crop.frame_index, crop.rank, crop.reason) == (3, 0, EmitReason.TRACK_ENDED)
    assert crop.box == PERSON
    # 10% padding around a 40 x 94 box.
    assert crop.crop_rect == (244, 206, 292, 320)
    image = cv2.imdecode(np.frombuffer(crop.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    assert image.shape == (114, 48, 3)
    expected = vtest_frames[3][206:320, 244:292].astype(int)
    assert np.abs(image.astype(int) - expected).mean() < 5


def test_top_k_emits_the_best_crops_ranked(vtest_frames: list[np.ndarray]) -> None:
    selector = BestCropSelector(CropSettings(top_k=3, emit_interval_s=None))
    scores = [0.5, 0.9, 0.6, 0.8, 0.7]
    for index, score in enumerate(scores):
        selector.observe(vtest_frames[0], [update(index, score=score)])
    crops = selector.observe(vtest_frames[0], [update(5, TrackState.ENDED)])
    assert [(c.rank, c.frame_index, c.score) for c in crops] == [
        (0, 1, 0.9),
        (1, 3, 0.8),
        (2, 4, 0.7),
    ]
    assert crops[0].quality > crops[1].quality > crops[2].quality
    ids = [uuid.UUID(c.crop_id) for c in crops]
    assert len(set(ids)) == 3
    assert all(i.version == 7 for i in ids)


def test_a_long_track_emits_once_per_interval(vtest_frames: list[np.ndarray]) -> None:
    selector = BestCropSelector(CropSettings(emit_interval_s=0.35))
    emitted = {}
    for index, frame in enumerate(vtest_frames):
        state = TrackState.ENDED if index == 9 else TrackState.UPDATED
        for crop in selector.observe(frame, [update(index, state)]):
            emitted[index] = (crop.reason, crop.frame_index)
    # Windows start at 0.0 s and 0.4 s; the last one (0.8-0.9 s) is cut short by the end.
    assert sorted(emitted) == [4, 8]
    assert emitted[4][0] is EmitReason.INTERVAL and 0 <= emitted[4][1] <= 4
    assert emitted[8][0] is EmitReason.INTERVAL and 5 <= emitted[8][1] <= 8


def test_the_end_emits_what_the_last_interval_left(vtest_frames: list[np.ndarray]) -> None:
    selector = BestCropSelector(CropSettings(emit_interval_s=0.35))
    emitted = {}
    for index, frame in enumerate(vtest_frames[:8]):
        state = TrackState.ENDED if index == 7 else TrackState.UPDATED
        for crop in selector.observe(frame, [update(index, state)]):
            emitted[index] = (crop.reason, crop.frame_index)
    assert sorted(emitted) == [4, 7]
    assert emitted[7][0] is EmitReason.TRACK_ENDED and emitted[7][1] in (5, 6)


def test_lost_updates_are_never_cropped(vtest_frames: list[np.ndarray]) -> None:
    selector = BestCropSelector(CropSettings(emit_interval_s=None))
    selector.observe(vtest_frames[0], [update(0, TrackState.NEW, score=0.5)])
    for index in (1, 2, 3):
        # A predicted box on the man's face would score better, but it is only a guess.
        selector.observe(vtest_frames[index], [update(index, TrackState.LOST, score=0.99)])
    (crop,) = selector.observe(vtest_frames[4], [update(4, TrackState.ENDED)])
    assert crop.frame_index == 0
    assert selector.observe(vtest_frames[5], [update(5, TrackState.ENDED)]) == []


def test_tracks_are_kept_apart(vtest_frames: list[np.ndarray]) -> None:
    walker = Box(498.0, 155.0, 532.0, 235.0)  # the man on the road, behind the lamp post
    selector = BestCropSelector(CropSettings(emit_interval_s=None))
    for index in range(3):
        selector.observe(
            vtest_frames[index],
            [update(index, track_number=1), update(index, track_number=2, box=walker, score=0.6)],
        )
    ended = [
        update(3, TrackState.ENDED, track_number=1),
        update(3, TrackState.ENDED, box=walker, track_number=2),
    ]
    crops = selector.observe(vtest_frames[3], ended)
    assert [(c.track_number, c.box) for c in crops] == [(1, PERSON), (2, walker)]


def test_a_box_outside_the_frame_gives_no_crop(vtest_frames: list[np.ndarray]) -> None:
    selector = BestCropSelector(CropSettings())
    outside = Box(900.0, 100.0, 950.0, 200.0)
    selector.observe(vtest_frames[0], [update(0, box=outside)])
    assert selector.observe(vtest_frames[1], [update(1, TrackState.ENDED, box=outside)]) == []


def test_settings_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="jpeg_quality"):
        CropSettings(jpeg_quality=0)
    with pytest.raises(ValueError, match="emit_interval_s"):
        CropSettings(emit_interval_s=0)
