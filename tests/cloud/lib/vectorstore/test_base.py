"""The shared types and helpers every backend relies on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from cloud.lib.vectorstore import (
    DetectionProperties,
    DimensionMismatch,
    Filters,
    InvalidRequest,
    VectorItem,
    VectorStoreUnavailable,
    object_uuid,
)
from cloud.lib.vectorstore.base import prepare_batch, unit_vector

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_object_uuid_is_uuid5_under_the_fixed_namespace() -> None:
    detection_id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

    derived = object_uuid(detection_id)

    # The literal pins the namespace: changing it would duplicate every stored vector.
    namespace = uuid.UUID("973792ab-3280-5a52-aa33-6731748bbcde")
    assert derived == uuid.uuid5(namespace, detection_id)
    assert derived.version == 5
    assert object_uuid(detection_id) == derived
    assert object_uuid(detection_id + "x") != derived


def test_object_uuid_refuses_an_empty_id() -> None:
    with pytest.raises(InvalidRequest):
        object_uuid("")


def test_unit_vector_normalises_to_float32() -> None:
    vector = unit_vector([3, 4], 2)

    assert vector.dtype == np.float32
    np.testing.assert_allclose(vector, [0.6, 0.8], rtol=1e-6)


def test_unit_vector_survives_values_whose_float32_square_overflows() -> None:
    vector = unit_vector(np.array([3e38, 3e38], dtype=np.float32), 2)

    np.testing.assert_allclose(vector, [0.70710677, 0.70710677], rtol=1e-6)


@pytest.mark.parametrize("shape", [(3,), (5,), (1, 4), ()])
def test_unit_vector_names_the_expected_dimension(shape: tuple[int, ...]) -> None:
    with pytest.raises(DimensionMismatch, match="4 values"):
        unit_vector(np.ones(shape), 4)


def test_detection_properties_store_utc_and_refuse_naive_datetimes() -> None:
    local = datetime(2026, 11, 21, 13, 0, tzinfo=timezone(timedelta(hours=1)))

    props = DetectionProperties("dev", "cam", "1", "person", local)

    assert props.ts == T0
    assert props.ts.tzinfo is UTC
    with pytest.raises(InvalidRequest, match="timezone-aware"):
        DetectionProperties("dev", "cam", "1", "person", datetime(2026, 11, 21, 12, 0))


def test_filters_normalise_their_collections_and_times() -> None:
    filters = Filters(
        camera_ids=["b", "a", "b"],
        since=datetime(2026, 11, 21, 14, 0, tzinfo=timezone(timedelta(hours=2))),
    )

    assert filters.camera_ids == ("a", "b")
    assert filters.since == T0
    assert filters == Filters(camera_ids={"a", "b"}, since=T0)


def test_filters_refuse_naive_times_and_a_bare_string() -> None:
    with pytest.raises(InvalidRequest, match="until"):
        Filters(until=datetime(2026, 11, 21))
    with pytest.raises(InvalidRequest, match="camera_ids"):
        Filters(camera_ids="cam-1")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(), False),
        (Filters(camera_ids=["cam-1"], exclude_ids=[]), False),
        (Filters(camera_ids=[]), True),
        (Filters(device_ids=[]), True),
        (Filters(labels=[]), True),
        (Filters(since=T0, until=T0), True),
        (Filters(since=T0, until=T0 + timedelta(microseconds=1)), False),
    ],
)
def test_matches_nothing_only_when_no_item_could_pass(filters: Filters, expected: bool) -> None:
    assert filters.matches_nothing is expected


def test_prepare_batch_names_the_bad_item_and_keeps_the_last_duplicate() -> None:
    props = DetectionProperties("dev", "cam", "1", "person", T0)
    first = VectorItem("a", np.array([1, 0], np.float32), props)
    again = VectorItem("a", np.array([0, 2], np.float32), props)
    other = VectorItem("b", np.array([1, 1], np.float32), props)

    batch = prepare_batch([first, other, again], 2)

    assert [item.detection_id for item in batch] == ["b", "a"]
    np.testing.assert_allclose(batch[1].vector, [0, 1])
    with pytest.raises(DimensionMismatch, match="'c'"):
        prepare_batch([first, VectorItem("c", np.ones(3, np.float32), props)], 2)


def test_only_unavailability_is_transient() -> None:
    assert not VectorStoreUnavailable("down").permanent
    assert InvalidRequest("bad").permanent
    assert DimensionMismatch("bad").permanent
    assert isinstance(DimensionMismatch("bad"), ValueError)
