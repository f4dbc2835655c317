"""Checking and decoding an image a user uploads as a search query.

Only JPEG and PNG are accepted, and each is checked before it reaches a decoder: its size in
bytes, then the image size its header declares (a decoder allocates all of it before reading a
pixel, so a few crafted bytes could otherwise take the web server's memory), then whether it
decodes. Every refusal is an `UploadRefused` whose message can be shown to the user as it is.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
from django.template.defaultfilters import filesizeformat

from cloud.errors import InvalidInput
from cloud.lib.jpeg import JpegHeaderError, JpegSize, read_jpeg_size

Image = npt.NDArray[np.uint8]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class UploadRefused(InvalidInput):
    """The upload is not an image this search takes; the message says why, for the user."""


def read_png_size(data: bytes) -> JpegSize:
    """The size a PNG's IHDR chunk declares (the first chunk, by the PNG specification).

    Raises `UploadRefused` when `data` is not a PNG with a well-formed IHDR.
    """
    # Signature (8), then the IHDR chunk: length (4) = 13, type (4), width (4), height (4).
    if not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        raise UploadRefused("The PNG file is damaged: it has no image header.")
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    if width == 0 or height == 0:
        raise UploadRefused("The PNG file is damaged: it declares an empty image.")
    return JpegSize(width=width, height=height)


def declared_size(data: bytes) -> JpegSize:
    """The image size a JPEG or PNG declares, read from its header without decoding.

    Raises `UploadRefused` for any other content and for a header that cannot be read.
    """
    if data.startswith(_PNG_SIGNATURE):
        return read_png_size(data)
    if data.startswith(b"\xff\xd8"):
        try:
            return read_jpeg_size(data)
        except JpegHeaderError as err:
            raise UploadRefused(f"The JPEG file is damaged ({err}).") from err
    raise UploadRefused("This is not a JPEG or PNG image. Upload a photo or a video frame.")


def decode_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> Image:
    """Check and decode an uploaded image into BGR pixels (height x width x 3).

    Raises `UploadRefused`: empty, over `max_bytes`, neither JPEG nor PNG, a header that
    declares more than `max_pixels` (width x height), or content that does not decode.
    """
    if not data:
        raise UploadRefused("The file is empty.")
    if len(data) > max_bytes:
        raise UploadRefused(too_large_message(max_bytes))
    size = declared_size(data)
    if size.pixels > max_pixels:
        raise UploadRefused(
            f"The image is {size.width} x {size.height} pixels; the largest allowed is "
            f"{max_pixels / 1e6:.1f} megapixels. Scale it down and upload it again."
        )
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise UploadRefused("The image is damaged: it does not decode.")
    return np.asarray(image, dtype=np.uint8)


def too_large_message(max_bytes: int) -> str:
    """What a user is told about a file over `max_bytes`."""
    return f"The file is too large: the largest upload is {filesizeformat(max_bytes)}."
