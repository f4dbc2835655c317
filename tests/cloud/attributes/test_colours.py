"""Colour names of pixels and of real vtest.avi crops (colours checked by eye: vtest_people)."""

from __future__ import annotations

import numpy as np
import pytest

from cloud.attributes.colours import COLOURS, CropColours, PartColours, crop_colours, name_pixels
from cloud.attributes.geometry import box_in_crop
from tests.cloud.attributes.vtest_people import (
    DARK_WOMAN,
    FRAME_HEIGHT,
    FRAME_WIDTH,
    GRASS_MAN,
    JEANS_MAN,
    RED_NAVY_MAN,
    RED_TOP_WOMAN,
    TEAL_CAR,
    VAN,
    Seen,
    crop,
    normalised_box,
)

# sRGB swatches (given as BGR) and the name a person gives them.
SWATCHES = {
    (0, 0, 0): "black",
    (128, 128, 128): "grey",
    (255, 255, 255): "white",
    (0, 0, 255): "red",
    (30, 20, 180): "red",
    (0, 140, 255): "orange",
    (0, 230, 255): "yellow",
    (0, 160, 0): "green",
    (255, 0, 0): "blue",
    (110, 30, 20): "blue",
    (130, 0, 130): "purple",
    (203, 192, 255): "pink",
    (19, 69, 139): "brown",
}


def colours_of(item: Seen, padding: float = 0.1) -> CropColours:
    image = crop(item, padding)
    box = box_in_crop(
        normalised_box(item), (FRAME_WIDTH, FRAME_HEIGHT), (image.shape[1], image.shape[0])
    )
    return crop_colours(image, box, person=item.label == "person")


def both(part: PartColours | None) -> set[str]:
    assert part is not None
    return {part.main, part.second}


def test_swatches_get_the_names_people_give_them() -> None:
    pixels = np.array([list(SWATCHES)], dtype=np.uint8)
    assert [COLOURS[code] for code in name_pixels(pixels)] == list(SWATCHES.values())


def test_a_red_jacket_over_blue_jeans() -> None:
    colours = colours_of(RED_TOP_WOMAN)
    assert colours.upper is not None and colours.upper.main == "red"
    assert colours.upper.main_share > 0.5
    assert "blue" in both(colours.lower)


def test_a_two_tone_jacket_keeps_both_colours() -> None:
    colours = colours_of(RED_NAVY_MAN)
    # Red shoulders and sleeves over a navy chest, which is this dark in vtest.avi.
    assert colours.upper is not None
    assert (colours.upper.main, colours.upper.second) == ("red", "black")
    assert colours.upper.second_share > 0.15
    assert colours.lower is not None and colours.lower.main == "black"


def test_upper_and_lower_body_are_told_apart() -> None:
    colours = colours_of(JEANS_MAN)
    assert colours.upper is not None and colours.upper.main == "black"
    assert colours.lower is not None and colours.lower.main == "blue"


@pytest.mark.parametrize("item", [GRASS_MAN, DARK_WOMAN], ids=lambda item: item.name)
def test_the_grass_and_road_around_a_person_do_not_colour_them(item: Seen) -> None:
    colours = colours_of(item)
    for part in (colours.whole, colours.upper, colours.lower):
        assert part is not None and part.main == "black" and part.main_share > 0.6
        assert "green" not in both(part)


@pytest.mark.parametrize("item", [GRASS_MAN, RED_TOP_WOMAN, JEANS_MAN], ids=lambda i: i.name)
def test_the_context_margin_does_not_change_the_colours(item: Seen) -> None:
    tight, usual, wide = (colours_of(item, padding) for padding in (0.0, 0.1, 0.3))
    for part in ("whole", "upper", "lower"):
        mains = {getattr(colours, part).main for colours in (tight, usual, wide)}
        assert len(mains) == 1, (part, mains)


def test_vehicles_get_one_colour_for_the_whole() -> None:
    van, car = colours_of(VAN), colours_of(TEAL_CAR)
    assert van.whole is not None and van.whole.main == "white"
    assert both(car.whole) == {"blue", "green"}  # teal
    assert van.upper is None and van.lower is None
