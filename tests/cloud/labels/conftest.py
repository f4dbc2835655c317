"""Labels' test data: four crops of vtest.avi on two cameras of one device, with vectors, in
the search tests' stores (`tests.cloud.conftest.search_data`); the lobby camera alone
is in the camera group "entrances"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from cloud.access.models import Role
from cloud.detections.models import Detection
from cloud.fleet.models import Camera, CameraGroup
from cloud.labels.models import Label
from tests.cloud.search.data import SearchData
from tests.users import make_user

T0 = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


@pytest.fixture
def crops(search_data: SearchData) -> dict[str, Detection]:
    """Three lobby tracks (a, b, c: a and b alike) and one in the yard (y, like a)."""
    vectors = {"a": [1, 0, 0, 0], "b": [1, 0.2, 0, 0], "c": [0, 1, 0, 0]}
    rows = {
        name: search_data.add(vector, ts=T0 + timedelta(seconds=index))
        for index, (name, vector) in enumerate(vectors.items())
    }
    rows["y"] = search_data.add([1, 0.1, 0, 0], camera_id="yard", ts=T0 + timedelta(seconds=9))
    return rows


@pytest.fixture
def entrances(crops: dict[str, Detection]) -> CameraGroup:
    group = CameraGroup.objects.create(site_id="hq", name="entrances")
    group.cameras.add(Camera.objects.get(edge_id="lobby"))
    return group


@pytest.fixture
def label(db: None) -> Label:
    return Label.objects.create(name="Delivery van")


@pytest.fixture
def labeler(db: None) -> User:
    return make_user("lena", Role.LABELER)
