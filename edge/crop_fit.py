"""Making a crop's upload message fit the ingest server's message limit.

The server fails a whole UploadCrops stream on a message over its limit (RESOURCE_EXHAUSTED), so
a crop must fit before it is spooled. One that does not first loses its context frame (an
extra for people, where the crop itself is what is searched), then is re-encoded smaller rather
than lost: first at lower JPEG qualities, then downscaled by halves (each again at those
qualities), down to `MIN_SIDE` pixels on the shorter side. The JPEG still shows the whole
`crop_box`, only with fewer pixels: `box` and `crop_box` are normalised frame coordinates and
stay exactly as they were. Only a crop that does not fit even at the smallest encoding is given
up (the caller dead-letters and counts it).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.crops.image import Image, encode_jpeg
from sightline.ingest.v1 import ingest_pb2

QUALITIES = (75, 50, 30)
"""JPEG qualities tried at each size, best first."""
MIN_SIDE = 16
"""Smallest shorter side (pixels) a crop is downscaled to."""


def fit_crop(
    request: ingest_pb2.UploadCropsRequest, max_bytes: int
) -> ingest_pb2.UploadCropsRequest | None:
    """`request` if it fits in `max_bytes`; else a copy whose JPEG is re-encoded as large as
    fits (see the module docstring); None if nothing fits or the JPEG cannot be decoded."""
    if request.ByteSize() <= max_bytes:
        return request
    if request.context_jpeg:
        bare = ingest_pb2.UploadCropsRequest()
        bare.CopyFrom(request)
        bare.ClearField("context_jpeg")
        return fit_crop(bare, max_bytes)
    decoded = cv2.imdecode(np.frombuffer(request.jpeg, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        return None
    image: Image = decoded.astype(np.uint8, copy=False)
    fitted = ingest_pb2.UploadCropsRequest()
    fitted.CopyFrom(request)
    while True:
        for quality in QUALITIES:
            fitted.jpeg = encode_jpeg(image, quality)
            if fitted.ByteSize() <= max_bytes:
                return fitted
        height, width = image.shape[:2]
        if min(height, width) // 2 < MIN_SIDE:
            return None
        image = cv2.resize(image, (width // 2, height // 2), interpolation=cv2.INTER_AREA).astype(
            np.uint8, copy=False
        )
