"""Letterbox, NanoDet decode and NMS on hand-made arrays whose answers can be worked out by hand."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from models.detection import (
    NANODET_OUTPUT_NAMES,
    LetterboxTransform,
    RawDetections,
    decode_nanodet,
    letterbox,
    nanodet_levels,
    to_detections,
    to_nchw,
)

SIZE = 416
STRIDES = (8, 16, 32)
CLASSES = 80
BINS = 11
PEAK = 40.0  # a logit this far above the others puts all softmax mass on one bin

Levels = tuple[list[npt.NDArray[np.float32]], list[npt.NDArray[np.float32]]]


def empty_levels() -> Levels:
    """All scores zero; all box logits zero (a uniform distribution: 5 bins on every side)."""
    scores, logits = [], []
    for stride in STRIDES:
        cells = (SIZE // stride) ** 2
        scores.append(np.zeros((1, cells, CLASSES), np.float32))
        logits.append(np.zeros((1, cells, 4 * BINS), np.float32))
    return scores, logits


def put(
    levels: Levels,
    *,
    stride: int,
    row: int,
    col: int,
    class_id: int,
    score: float,
    bins: tuple[int, int, int, int],
) -> None:
    """Give one cell a class score and box logits peaked on `bins` (left, top, right, bottom)."""
    level = STRIDES.index(stride)
    cell = row * (SIZE // stride) + col
    levels[0][level][0, cell, class_id] = score
    for side, bin_index in enumerate(bins):
        levels[1][level][0, cell, side * BINS + bin_index] = PEAK


def test_a_peaked_distribution_decodes_to_the_hand_computed_box() -> None:
    levels = empty_levels()
    put(levels, stride=8, row=10, col=20, class_id=3, score=0.9, bins=(2, 3, 4, 5))

    raw = decode_nanodet(*levels)

    # Centre ((20 + 0.5) * 8, (10 + 0.5) * 8) = (164, 84); sides 2, 3, 4, 5 bins of 8 px.
    assert len(raw) == 1
    np.testing.assert_allclose(raw.boxes[0], [164 - 16, 84 - 24, 164 + 32, 84 + 40], atol=1e-3)
    assert raw.class_ids.tolist() == [3]
    assert raw.scores[0] == pytest.approx(0.9)


def test_two_equal_bins_give_the_distance_halfway_between_them() -> None:
    levels = empty_levels()
    put(levels, stride=32, row=6, col=6, class_id=0, score=0.8, bins=(1, 1, 1, 1))
    logits = levels[1][2][0, 6 * 13 + 6]
    logits[2::BINS] = PEAK  # bins 1 and 2 now share the mass on every side: 1.5 bins

    raw = decode_nanodet(*levels)

    centre = 6.5 * 32
    np.testing.assert_allclose(raw.boxes[0], [centre - 48, centre - 48, centre + 48, centre + 48])


def test_boxes_are_clipped_to_the_input() -> None:
    levels = empty_levels()
    put(levels, stride=16, row=0, col=25, class_id=1, score=0.7, bins=(10, 10, 10, 10))

    (box,) = decode_nanodet(*levels).boxes

    # Centre (408, 8) with 160 px on each side runs off the top and the right edge.
    np.testing.assert_allclose(box, [248, 0, SIZE, 168])


def test_nms_keeps_the_best_of_overlapping_boxes_of_one_class_only() -> None:
    levels = empty_levels()
    put(levels, stride=8, row=20, col=20, class_id=2, score=0.6, bins=(4, 4, 4, 4))
    put(levels, stride=8, row=20, col=21, class_id=2, score=0.9, bins=(4, 4, 4, 4))  # IoU 0.78
    put(levels, stride=8, row=20, col=20, class_id=7, score=0.5, bins=(4, 4, 4, 4))  # car/truck

    per_class = decode_nanodet(*levels)
    agnostic = decode_nanodet(*levels, class_agnostic=True)

    assert per_class.class_ids.tolist() == [2, 7]
    assert per_class.scores.tolist() == pytest.approx([0.9, 0.5])
    assert agnostic.class_ids.tolist() == [2]


def test_boxes_that_overlap_less_than_the_iou_threshold_are_all_kept() -> None:
    levels = empty_levels()
    put(levels, stride=8, row=20, col=20, class_id=0, score=0.9, bins=(4, 4, 4, 4))
    put(levels, stride=8, row=20, col=24, class_id=0, score=0.8, bins=(4, 4, 4, 4))  # IoU 0.33

    assert len(decode_nanodet(*levels)) == 2


def test_scores_below_the_threshold_are_dropped() -> None:
    levels = empty_levels()
    put(levels, stride=8, row=1, col=1, class_id=0, score=0.35, bins=(1, 1, 1, 1))
    put(levels, stride=8, row=9, col=9, class_id=0, score=0.45, bins=(1, 1, 1, 1))

    raw = decode_nanodet(*levels, score_threshold=0.4)

    assert raw.scores.tolist() == pytest.approx([0.45])


def test_the_result_is_sorted_by_score_and_capped_at_max_detections() -> None:
    levels = empty_levels()
    for i in range(10):
        put(levels, stride=32, row=i, col=i, class_id=i, score=0.1 + i / 20, bins=(1, 1, 1, 1))

    raw = decode_nanodet(*levels, max_detections=4)

    assert raw.class_ids.tolist() == [9, 8, 7, 6]


def test_only_the_top_cells_of_a_level_become_candidates() -> None:
    levels = empty_levels()
    put(levels, stride=8, row=0, col=0, class_id=0, score=0.3, bins=(1, 1, 1, 1))
    put(levels, stride=8, row=40, col=40, class_id=1, score=0.6, bins=(1, 1, 1, 1))

    raw = decode_nanodet(*levels, pre_nms_top_k=1)

    assert raw.class_ids.tolist() == [1]


def test_a_level_that_does_not_tile_the_input_is_refused() -> None:
    scores, logits = empty_levels()
    scores[0] = scores[0][:, :-1]
    logits[0] = logits[0][:, :-1]

    with pytest.raises(ValueError, match="stride 8"):
        decode_nanodet(scores, logits)


def test_outputs_are_picked_by_their_onnx_names() -> None:
    scores, logits = empty_levels()
    outputs = {}
    for stride, score, logit in zip(STRIDES, scores, logits, strict=True):
        outputs[NANODET_OUTPUT_NAMES[stride][0]] = score
        outputs[NANODET_OUTPUT_NAMES[stride][1]] = logit

    picked_scores, picked_logits = nanodet_levels(outputs)

    assert [a.shape[1] for a in picked_scores] == [2704, 676, 169]
    assert all(a is b for a, b in zip(picked_logits, logits, strict=True))


def test_letterbox_centres_the_scaled_frame_on_black() -> None:
    frame = np.full((576, 768, 3), 200, np.uint8)

    canvas, transform = letterbox(frame, (SIZE, SIZE))

    # 768 x 576 scaled by 416 / 768 is 416 x 312, leaving 104 rows: 52 above and 52 below.
    assert transform == LetterboxTransform(416 / 768, 0, 52, 768, 576)
    assert canvas.shape == (SIZE, SIZE, 3)
    assert (canvas[:52] == 0).all() and (canvas[364:] == 0).all()
    assert (canvas[52:364] == 200).all()


def test_to_frame_undoes_the_letterbox_and_clips_to_the_frame() -> None:
    transform = LetterboxTransform(scale=0.5, pad_x=8, pad_y=0, frame_width=800, frame_height=832)
    boxes = np.array([[8, 0, 408, 416], [0, 100, 50, 120]], np.float32)

    np.testing.assert_allclose(transform.to_frame(boxes), [[0, 0, 800, 832], [0, 200, 84, 240]])


def test_to_nchw_normalises_per_channel_and_can_swap_red_and_blue() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0], image[..., 2] = 10, 250  # blue 10, red 250

    bgr = to_nchw(image, (10, 0, 50), (1, 1, 2))
    rgb = to_nchw(image, (10, 0, 50), (1, 1, 2), swap_rb=True)

    assert bgr.shape == (1, 3, 2, 3) and bgr.dtype == np.float32
    assert bgr[0, :, 0, 0].tolist() == [0, 0, 100]
    assert rgb[0, :, 0, 0].tolist() == [240, 0, -20]


def test_detections_are_labelled_and_mapped_to_the_frame() -> None:
    raw = RawDetections(
        boxes=np.array([[10, 20, 30, 40]], np.float32),
        scores=np.array([0.75], np.float32),
        class_ids=np.array([1], np.int64),
    )
    transform = LetterboxTransform(scale=2.0, pad_x=0, pad_y=10, frame_width=100, frame_height=100)

    (detection,) = to_detections(raw, transform, ["person", "bicycle"])

    assert (detection.x1, detection.y1, detection.x2, detection.y2) == (5, 5, 15, 15)
    assert detection.label == "bicycle" and detection.class_id == 1
    assert detection.score == pytest.approx(0.75)
