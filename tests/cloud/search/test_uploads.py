"""Checking uploaded images before anything decodes them."""

from __future__ import annotations

import re
import zlib

import cv2
import numpy as np
import pytest

from cloud.search.uploads import UploadRefused, decode_upload
from tests.cloud.lib.jpeg_samples import declaring, encode

LIMITS = {"max_bytes": 1 << 20, "max_pixels": 4096 * 4096}


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk declaring `width` x `height`, 8-bit RGB."""
    body = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    crc = zlib.crc32(body).to_bytes(4, "big")
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + body + crc


def test_it_decodes_jpeg_and_png_photos() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, :30] = (0, 0, 255)
    ok, png = cv2.imencode(".png", image)
    assert ok
    assert decode_upload(bytes(png), **LIMITS).tolist() == image.tolist()
    assert decode_upload(encode(64, 48), **LIMITS).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"%PDF-1.7 not an image", "not a JPEG or PNG image"),
        (b"GIF89a\x01\x00\x01\x00", "not a JPEG or PNG image"),
        (encode(64, 48)[:40], "The JPEG file is damaged (the JPEG ends before its frame header)"),
        (png_header(64, 48) + b"garbage instead of image data", "does not decode"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "The PNG file is damaged"),
        (b"x" * ((1 << 20) + 1), "The file is too large: the largest upload is 1.0\xa0MB."),
    ],
    ids=["empty", "pdf", "gif", "truncated jpeg", "corrupt png", "no png header", "too many bytes"],
)
def test_it_refuses_what_is_not_a_usable_image_with_a_message(data: bytes, message: str) -> None:
    with pytest.raises(UploadRefused, match=re.escape(message)):
        decode_upload(data, **LIMITS)


@pytest.mark.parametrize(
    "data", [declaring(30000, 30000), png_header(100_000, 100_000)], ids=["jpeg", "png"]
)
def test_it_refuses_images_declaring_too_many_pixels_before_decoding(data: bytes) -> None:
    # A few hundred bytes each: decoding them would allocate gigabytes.
    assert len(data) < 1000
    with pytest.raises(UploadRefused, match=re.escape("the largest allowed is 16.8 megapixels")):
        decode_upload(data, **LIMITS)
