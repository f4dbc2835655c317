from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.crops.image import cut, encode_jpeg, pixel_rect
from edge.geometry import Box, PixelRect


def test_padding_grows_the_box_on_every_side_and_rounds_outwards() -> None:
    rect = pixel_rect(Box(100.2, 50.5, 140.2, 150.5), 768, 576, padding=0.1)
    # 40 x 100 box: 4 px and 10 px each side.
    assert rect == PixelRect(96, 40, 145, 161)


def test_padding_is_clipped_to_the_frame() -> None:
    assert pixel_rect(Box(2.0, 3.0, 760.0, 570.0), 768, 576, padding=0.5) == PixelRect(
        0, 0, 768, 576
    )


def test_a_box_outside_the_frame_gives_an_empty_rect() -> None:
    rect = pixel_rect(Box(800.0, 100.0, 840.0, 200.0), 768, 576)
    assert rect.x1 == rect.x2 == 768


def test_cut_copies_the_pixels(vtest_frames: list[np.ndarray]) -> None:
    frame = vtest_frames[0].copy()
    crop = cut(frame, PixelRect(10, 20, 50, 80))
    assert crop.shape == (60, 40, 3)
    np.testing.assert_array_equal(crop, frame[20:80, 10:50])
    frame[:] = 0
    assert crop.any(), "the crop must not alias the frame buffer"


def test_jpeg_round_trips_and_quality_trades_size(vtest_frames: list[np.ndarray]) -> None:
    crop = cut(vtest_frames[0], PixelRect(240, 200, 300, 320))
    fine = encode_jpeg(crop, 95)
    coarse = encode_jpeg(crop, 30)
    assert fine[:2] == b"\xff\xd8"
    assert len(coarse) < len(fine)
    decoded = cv2.imdecode(np.frombuffer(fine, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None, "not a JPEG"
    assert decoded.shape == crop.shape
    # High quality JPEG is close to the original pixels.
    assert np.abs(decoded.astype(int) - crop.astype(int)).mean() < 4


def test_an_empty_crop_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="empty"):
        encode_jpeg(np.zeros((0, 10, 3), np.uint8), 90)
