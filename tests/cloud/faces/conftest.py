"""The stores of the face tests: the process's stores, built from the settings, in the test's
own folder, with the sample device provisioned."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from cloud.fleet.models import Device
from cloud.lib.objectstore import ObjectStore
from tests.cloud.faces.stores import configured_stores


@pytest.fixture
def stores(
    tmp_path: Path,
    objects: ObjectStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    provisioned_device: Device,
) -> Iterator[ObjectStore]:
    with configured_stores(tmp_path, objects, settings, monkeypatch):
        yield objects
