from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.crops.image import cut, pixel_rect
from edge.crops.scoring import crop_quality, sharpness, touches_border
from edge.geometry import Box

# The man standing on the grass, left of the lamp post, in vtest.avi frame 0.
PERSON = Box(248.0, 216.0, 288.0, 310.0)
WIDTH, HEIGHT = 768, 576


def quality(**overrides: object) -> float:
    args: dict[str, object] = {
        "score": 0.8,
        "box": PERSON,
        "frame_width": WIDTH,
        "frame_height": HEIGHT,
        "sharpness_value": 100.0,
        "sharpness_reference": 100.0,
        "border_margin_px": 2.0,
        "border_penalty": 0.3,
    }
    args.update(overrides)
    return crop_quality(**args)  # type: ignore[arg-type]


def test_a_blurred_crop_is_less_sharp_than_the_real_one(vtest_frames: list[np.ndarray]) -> None:
    person = cut(vtest_frames[0], pixel_rect(PERSON, WIDTH, HEIGHT))
    blurred = np.asarray(cv2.GaussianBlur(person, (7, 7), 2.0), dtype=np.uint8)
    assert sharpness(person) > 3 * sharpness(blurred) > 0


def test_a_flat_or_empty_image_has_no_sharpness() -> None:
    assert sharpness(np.full((40, 30, 3), 128, np.uint8)) == 0.0
    assert sharpness(np.zeros((0, 0, 3), np.uint8)) == 0.0
    assert sharpness(np.full((40, 30), 7, np.uint8)) == 0.0


@pytest.mark.parametrize(
    ("box", "touching"),
    [
        (PERSON, False),
        (Box(0.0, 100.0, 50.0, 200.0), True),
        (Box(1.5, 100.0, 50.0, 200.0), True),
        (Box(3.0, 100.0, 50.0, 200.0), False),
        (Box(700.0, 40.0, 768.0, 92.0), True),  # the car cut by the right edge
        (Box(300.0, 500.0, 350.0, 575.0), True),
        (Box(300.0, 0.0, 350.0, 40.0), True),
    ],
)
def test_touches_border(box: Box, touching: bool) -> None:
    assert touches_border(box, WIDTH, HEIGHT, margin_px=2.0) is touching


def test_quality_grows_with_score_area_and_sharpness() -> None:
    base = quality()
    assert quality(score=0.9) > base
    assert quality(box=Box(248.0, 216.0, 298.0, 330.0)) > base
    assert quality(sharpness_value=400.0) > base
    # The sharpness term saturates: 100x sharper is not 100x better.
    assert quality(sharpness_value=10_000.0) < 2 * base


def test_a_box_on_the_border_loses_to_the_same_box_inside() -> None:
    inside = quality(box=Box(100.0, 100.0, 140.0, 200.0))
    on_edge = quality(box=Box(0.0, 100.0, 40.0, 200.0))
    assert on_edge == pytest.approx(0.3 * inside)


def test_only_the_visible_part_of_a_box_counts_as_area() -> None:
    assert quality(box=Box(-40.0, 100.0, 40.0, 200.0)) == pytest.approx(
        quality(box=Box(0.0, 100.0, 40.0, 200.0))
    )
    assert quality(box=Box(800.0, 100.0, 840.0, 200.0)) == 0.0
