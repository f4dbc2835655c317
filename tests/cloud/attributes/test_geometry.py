"""Finding the detection box inside a crop cut with the edge's context margin."""

from __future__ import annotations

import pytest

from cloud.attributes.geometry import PixelBox, box_in_crop
from edge.crops.image import pixel_rect
from edge.geometry import Box

FRAME = (768, 576)


@pytest.mark.parametrize("padding", [0.0, 0.1, 0.25])
@pytest.mark.parametrize(
    "box",
    [
        (248.0, 216.0, 288.0, 310.0),  # inside the frame
        (735.0, 50.0, 768.0, 95.0),  # touching the right edge: the margin is clipped
        (0.0, 0.0, 40.5, 80.25),  # the top-left corner, fractional pixels
    ],
)
def test_the_box_is_found_where_the_edge_cut_around_it(
    box: tuple[float, float, float, float], padding: float
) -> None:
    rect = pixel_rect(Box(*box), *FRAME, padding)
    normalised = (box[0] / 768, box[1] / 576, box[2] / 768, box[3] / 576)

    found = box_in_crop(normalised, FRAME, (rect.x2 - rect.x1, rect.y2 - rect.y1))

    assert found == PixelBox(
        round(box[0]) - rect.x1,
        round(box[1]) - rect.y1,
        round(box[2]) - rect.x1,
        round(box[3]) - rect.y1,
    )


def test_a_crop_no_margin_explains_is_taken_as_the_box() -> None:
    # A margin grows both sides of an unclipped 40 px box: 40 px, then 42, never 41.
    found = box_in_crop((300 / 768, 0.5, 340 / 768, 0.6), FRAME, (41, 58))
    assert (found.x1, found.x2) == (0, 41)
