"""Builders for the object keys (docs/architecture.md, "Identity and idempotency").

Keys are derived only from ids assigned at the edge, never from upload time or a counter, so a
retried upload writes the same key and overwrites instead of duplicating.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from cloud.lib.objectstore.errors import InvalidObjectRequest
from cloud.lib.objectstore.validation import validate_key, validate_segment

_CROP_SUFFIX = ".jpg"


def crop_key(device_id: str, camera_id: str, ts: datetime, detection_id: str) -> str:
    """Return ``crops/<device>/<camera>/<yyyy>/<mm>/<dd>/<detection_id>.jpg``.

    `ts` is the capture time of the crop; it must be timezone-aware and the date is taken in
    UTC, so every cloud replica files a crop under the same day. Each id must be a valid key
    segment (no ``/``, not empty, not starting with ``.``), otherwise `InvalidObjectRequest`
    names the offending argument.
    """
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise InvalidObjectRequest("crop timestamp must be timezone-aware")
    day = crop_day_prefix(device_id, camera_id, ts.astimezone(UTC).date())
    return validate_key(day + validate_segment(detection_id, "detection_id") + _CROP_SUFFIX)


def context_key(device_id: str, camera_id: str, ts: datetime, detection_id: str) -> str:
    """Return ``contexts/<device>/<camera>/<yyyy>/<mm>/<dd>/<detection_id>.jpg``: the downscaled
    whole frame a crop was cut from, with the rules of `crop_key`.

    A prefix of its own, not beside the crop: the orphan sweep treats every object under
    ``crops/`` as a crop whose name is its detection id.
    """
    return "contexts/" + crop_key(device_id, camera_id, ts, detection_id).removeprefix("crops/")


def crop_day_prefix(device_id: str, camera_id: str, day: date) -> str:
    """Return ``crops/<device>/<camera>/<yyyy>/<mm>/<dd>/``: the prefix of one camera's crops
    captured on `day` (a UTC date), to `list` them."""
    return "/".join(
        (
            "crops",
            validate_segment(device_id, "device_id"),
            validate_segment(camera_id, "camera_id"),
            f"{day:%Y/%m/%d}/",
        )
    )


def detection_id_of_crop_key(key: str) -> str | None:
    """Return the detection id a `crop_key` names, or None if `key` is not a crop's key."""
    if not key.startswith("crops/") or not key.endswith(_CROP_SUFFIX):
        return None
    return key.rpartition("/")[2].removesuffix(_CROP_SUFFIX)


def model_key(name: str, version: str, sha256: str) -> str:
    """Return ``models/<name>/<version>/<sha256>.onnx``: a model version's artifact.

    The sha256 in the key means a key names one content: a retried upload writes the same
    object, and no upload can change the bytes behind a key a device was sent.
    """
    return validate_key(
        "/".join(
            (
                "models",
                validate_segment(name, "model name"),
                validate_segment(version, "model version"),
                validate_segment(sha256, "sha256") + ".onnx",
            )
        )
    )


def face_key(device_id: str, camera_id: str, ts: datetime, detection_id: str) -> str:
    """Return ``faces/<device>/<camera>/<yyyy>/<mm>/<dd>/<detection_id>.jpg``: the face the edge
    found in a person crop, at the frame's resolution, with the rules of `crop_key` (and a
    prefix of its own for the reason `context_key` gives)."""
    return "faces/" + crop_key(device_id, camera_id, ts, detection_id).removeprefix("crops/")
