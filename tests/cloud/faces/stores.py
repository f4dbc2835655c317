"""The process's stores as a worker and the web app build them from the settings, on an
embedded vector store in a test's own folder: crop embeddings and the face collection; and the
`stores` fixture of the face tests (re-exported by their conftest and the API tests')."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from cloud import backends
from cloud.fleet.models import Device
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore


@contextmanager
def configured_stores(
    folder: Path,
    objects: ObjectStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """`backends.vector_store()` and `vector_collection(...)` built from the settings, on an
    embedded store in `folder`; `backends.object_store()` is `objects`."""
    settings.VECTOR_STORE = {"type": "embedded", "path": str(folder / "vectors.sqlite3")}
    collections: dict[str, backends.Once[VectorStore]] = {}
    crops = backends.Once(backends._build_vector_store)
    monkeypatch.setattr(backends, "_collections", collections)
    monkeypatch.setattr(backends, "vector_store", crops)
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    try:
        yield
    finally:
        for once in [crops, *collections.values()]:
            if once._value is not None:  # built during the test
                once._value.close()


@pytest.fixture
def stores(
    tmp_path: Path,
    objects: ObjectStore,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    provisioned_device: Device,
) -> Iterator[ObjectStore]:
    """The configured stores in the test's folder, with the sample device provisioned."""
    with configured_stores(tmp_path, objects, settings, monkeypatch):
        yield objects
