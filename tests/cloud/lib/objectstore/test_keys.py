"""Object key builders and the key rules they rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cloud.lib.objectstore import InvalidObjectRequest, crop_key
from cloud.lib.objectstore.keys import crop_day_prefix, detection_id_of_crop_key
from cloud.lib.objectstore.validation import validate_key, validate_prefix

DETECTION = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"


def test_crop_key_follows_the_design_layout() -> None:
    ts = datetime(2026, 3, 7, 9, 15, tzinfo=UTC)

    key = crop_key("dev-1", "cam_2", ts, DETECTION)

    assert key == f"crops/dev-1/cam_2/2026/03/07/{DETECTION}.jpg"


def test_crop_key_files_by_the_utc_day() -> None:
    # 01:00 on New Year's Day in UTC+2 is still the last day of the year in UTC.
    ts = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2)))

    assert crop_key("d", "c", ts, "x") == "crops/d/c/2025/12/31/x.jpg"


def test_crop_key_refuses_a_naive_timestamp() -> None:
    with pytest.raises(InvalidObjectRequest, match="timezone-aware"):
        crop_key("d", "c", datetime(2026, 1, 1), "x")


@pytest.mark.parametrize(
    ("device", "camera", "detection", "named"),
    [
        ("", "c", "x", "device_id"),
        ("a/b", "c", "x", "device_id"),
        ("d", "..", "x", "camera_id"),
        ("d", "c", "../x", "detection_id"),
        ("d", "c", ".x", "detection_id"),
        ("d", "c", "x y", "detection_id"),
    ],
)
def test_crop_key_names_the_invalid_component(
    device: str, camera: str, detection: str, named: str
) -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)

    with pytest.raises(InvalidObjectRequest, match=named):
        crop_key(device, camera, ts, detection)


def test_keys_are_limited_to_1024_bytes() -> None:
    longest = "/".join(["a" * 200] * 5) + "/" + "b" * 19
    assert len(longest) == 1024

    assert validate_key(longest) == longest
    with pytest.raises(InvalidObjectRequest, match="1024 bytes"):
        validate_key(longest + "b")


@pytest.mark.parametrize("prefix", ["", "crops/", "crops/cam", "crops/cam1/2026/"])
def test_prefixes_may_end_anywhere_a_key_could_continue(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


def test_a_day_prefix_lists_exactly_the_crops_of_that_camera_and_day() -> None:
    ts = datetime(2026, 3, 7, 23, 59, tzinfo=UTC)
    prefix = crop_day_prefix("dev-1", "cam_2", ts.date())
    assert prefix == "crops/dev-1/cam_2/2026/03/07/"
    assert crop_key("dev-1", "cam_2", ts, DETECTION).startswith(prefix)
    assert not crop_key("dev-1", "cam_22", ts, DETECTION).startswith(prefix)
    assert validate_prefix(prefix) == prefix


def test_the_detection_id_is_read_back_from_a_crop_key() -> None:
    key = crop_key("dev-1", "cam_2", datetime(2026, 3, 7, tzinfo=UTC), DETECTION)
    assert detection_id_of_crop_key(key) == DETECTION
    assert detection_id_of_crop_key("crops/dev-1/cam_2/2026/03/07/notes.txt") is None
    assert detection_id_of_crop_key("models/m/v1/model.onnx") is None
