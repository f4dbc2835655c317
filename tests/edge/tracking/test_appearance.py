"""The colour descriptor on painted boxes: the same clothes are close, different clothes far."""

from __future__ import annotations

import numpy as np

from edge.tracking import appearance

RED, BLUE, GREY = (30, 30, 200), (200, 60, 30), (128, 128, 128)  # BGR


def person(shirt: tuple[int, int, int], trousers: tuple[int, int, int]) -> np.ndarray:
    """A 200 x 100 frame with a 40 x 160 person on a grey background (box 30, 20, 70, 180)."""
    image = np.full((200, 100, 3), GREY, dtype=np.uint8)
    image[20:100, 30:70] = shirt
    image[100:180, 30:70] = trousers
    return image


BOX = np.array([[30.0, 20.0, 70.0, 180.0]])


def test_the_same_clothes_are_close_and_different_ones_far() -> None:
    red = appearance.describe(person(RED, BLUE), BOX)
    again = appearance.describe(person(RED, BLUE), BOX + 1.0)
    blue = appearance.describe(person(BLUE, BLUE), BOX)
    assert appearance.distance(red, again)[0, 0] < 0.2
    assert appearance.distance(red, blue)[0, 0] > 0.6


def test_upper_and_lower_half_are_told_apart() -> None:
    # The same two colours, worn the other way round.
    one = appearance.describe(person(RED, BLUE), BOX)
    other = appearance.describe(person(BLUE, RED), BOX)
    assert appearance.distance(one, other)[0, 0] > 0.6


def test_a_box_outside_the_frame_is_like_nothing() -> None:
    outside = appearance.describe(person(RED, BLUE), np.array([[150.0, 20.0, 190.0, 180.0]]))
    assert not outside.any()
    assert appearance.distance(appearance.describe(person(RED, BLUE), BOX), outside)[0, 0] == 1.0
