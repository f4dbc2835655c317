"""`read_jpeg_size`: a JPEG's declared size from its frame header, without decoding it."""

from __future__ import annotations

import random

import cv2
import pytest

from cloud.lib.jpeg import JpegHeaderError, JpegSize, read_jpeg_size
from tests.cloud.lib.jpeg_samples import declaring, encode


def test_it_reads_the_size_that_opencv_decodes() -> None:
    assert read_jpeg_size(encode(37, 53)) == JpegSize(width=37, height=53)
    assert JpegSize(width=37, height=53).pixels == 37 * 53


def test_it_reads_progressive_jpegs() -> None:
    assert read_jpeg_size(encode(64, 24, cv2.IMWRITE_JPEG_PROGRESSIVE, 1)) == JpegSize(64, 24)


def test_it_reads_a_huge_declared_size_without_allocating_it() -> None:
    assert read_jpeg_size(declaring(60000, 60000)) == JpegSize(60000, 60000)


def test_it_refuses_more_pixels_than_asked_for_without_decoding() -> None:
    assert read_jpeg_size(declaring(64, 48), max_pixels=64 * 48) == JpegSize(64, 48)
    with pytest.raises(JpegHeaderError, match="declares 60000 x 60000 pixels, more than the 3072"):
        read_jpeg_size(declaring(60000, 60000), max_pixels=64 * 48)


def test_it_skips_fill_bytes_and_application_segments() -> None:
    data = encode(20, 10)
    # A fill byte before a marker is legal, and an APP15 segment may come before the frame.
    padded = data[:2] + b"\xff\xff\xef\x00\x07extra" + data[2:]
    assert read_jpeg_size(padded) == JpegSize(20, 10)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a JPEG"),
        (b"GIF89a....", "not a JPEG"),
        (b"\x89PNG\r\n\x1a\n", "not a JPEG"),
        (b"\xff\xd8", "ends before its frame header"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "ends before its frame header"),
        (b"\xff\xd8\xff\xda\x00\x08", "scan starts before the frame header"),
        (b"\xff\xd8\xff\xd9", "ends before its frame header"),
        (b"\xff\xd8\x00\x00", "marker expected at byte 2"),
        (b"\xff\xd8\xff\xe0\x00\x01", "segment length 1"),
        (b"\xff\xd8\xff\xc0\x00\x05\x08\x00\x10", "frame header is truncated"),
    ],
)
def test_it_refuses_what_is_not_a_complete_jpeg_header(data: bytes, message: str) -> None:
    with pytest.raises(JpegHeaderError, match=message):
        read_jpeg_size(data)


@pytest.mark.parametrize(("width", "height"), [(0, 8), (16, 0)])
def test_it_refuses_a_zero_dimension(width: int, height: int) -> None:
    # Height 0 means "defined later by a DNL marker", which OpenCV's libjpeg refuses too.
    with pytest.raises(JpegHeaderError, match="declares a zero"):
        read_jpeg_size(declaring(width, height))


def test_no_prefix_or_mutation_of_a_jpeg_raises_anything_else() -> None:
    data = encode(40, 30)
    candidates = [data[:cut] for cut in range(len(data))]
    rng = random.Random(7)
    for _ in range(2000):
        mutated = bytearray(data[:200])
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        candidates.append(bytes(mutated))
    for candidate in candidates:
        try:
            size = read_jpeg_size(candidate)
        except JpegHeaderError:
            continue
        assert size.width > 0
        assert size.height > 0
