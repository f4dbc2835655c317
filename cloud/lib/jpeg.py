"""A JPEG's declared image size, read from its frame header without decoding the image.

A decoder allocates the whole image the frame header (SOF) declares before it reads a pixel,
so a few hundred crafted bytes that declare 30000 x 30000 pixels make OpenCV allocate 2.7 GB.
`read_jpeg_size` lets a caller refuse such a crop before it reaches a decoder: the embed worker
does, and the ingest may do it at upload. It is pure (bytes in, size out) and reads at most
the segments before the first frame header.

Layout (ITU-T T.81, annex B): SOI (FF D8), then segments, each a marker (FF, any number of FF
fill bytes, a code) followed, except for the standalone markers, by a two-byte big-endian length
that counts itself. The first SOF segment declares precision, height, width and components;
libjpeg refuses a second one, so the first is the size a decoder allocates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

_SOI: Final = b"\xff\xd8"
# Frame headers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_SOF_CODES: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length: TEM and the restart markers.
_STANDALONE_CODES: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS: Final = 0xDA
_EOI: Final = 0xD9


class JpegHeaderError(ValueError):
    """The bytes are not a JPEG whose frame header can be read; the message says why."""


@dataclass(frozen=True)
class JpegSize:
    """The image size a JPEG's frame header declares, in pixels."""

    width: int
    height: int

    @property
    def pixels(self) -> int:
        """Width times height: what a decoder allocates per channel."""
        return self.width * self.height


def read_jpeg_size(data: bytes, *, max_pixels: int | None = None) -> JpegSize:
    """Return the size the first frame header of `data` declares, without decoding anything.

    Raises `JpegHeaderError` when `data` does not start with a JPEG's SOI marker, when a
    segment is malformed or truncated, when the scan starts or the image ends before a frame
    header, when the header declares a zero width or height (a height to be set later by a
    DNL marker, which OpenCV's libjpeg does not support either), and when it declares more
    than `max_pixels` (width x height) where that is given.
    """
    size = _declared_size(data)
    if max_pixels is not None and size.pixels > max_pixels:
        raise JpegHeaderError(
            f"declares {size.width} x {size.height} pixels, more than the {max_pixels} allowed"
        )
    return size


def _declared_size(data: bytes) -> JpegSize:
    if not data.startswith(_SOI):
        raise JpegHeaderError("not a JPEG: it does not start with the SOI marker")
    position = len(_SOI)
    while position < len(data):
        if data[position] != 0xFF:
            raise JpegHeaderError(f"marker expected at byte {position}")
        while position < len(data) and data[position] == 0xFF:
            position += 1  # fill bytes may precede any marker
        if position == len(data):
            break
        code = data[position]
        position += 1
        if code in _STANDALONE_CODES:
            continue
        if code == _EOI:
            break
        if code == _SOS:
            raise JpegHeaderError("the scan starts before the frame header")
        if position + 2 > len(data):
            break
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2:
            raise JpegHeaderError(f"segment length {length} at byte {position}")
        if code in _SOF_CODES:
            return _frame_size(data[position : position + length], length)
        position += length
    raise JpegHeaderError("the JPEG ends before its frame header")


def _frame_size(segment: bytes, length: int) -> JpegSize:
    # length (2), precision (1), height (2), width (2), number of components (1), ...
    if length < 8 or len(segment) < 7:
        raise JpegHeaderError("the frame header is truncated")
    height = int.from_bytes(segment[3:5], "big")
    width = int.from_bytes(segment[5:7], "big")
    if width == 0 or height == 0:
        raise JpegHeaderError(f"the frame header declares a zero size ({width} x {height})")
    return JpegSize(width=width, height=height)
