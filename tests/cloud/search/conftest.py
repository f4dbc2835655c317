"""Fixtures for the search views: empty stores installed as the process's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud import backends
from cloud.detections.services import NewDetection
from cloud.fleet.models import Device
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings
from tests.cloud.search.data import DIMENSION, SearchData, vtest_crop_jpeg


@pytest.fixture
def search_data(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    provisioned_device: Device,
    make_detection: Callable[..., NewDetection],
) -> Iterator[SearchData]:
    """Empty stores installed as `cloud.backends`' object store and vector store."""
    objects = LocalObjectStore(
        LocalObjectStoreSettings(type="local", root=tmp_path / "objects", url_signing_key="k" * 32)
    )
    objects.ensure_bucket()
    vectors = EmbeddedVectorStore(
        EmbeddedVectorStoreSettings(path=Path(":memory:")), dimension=DIMENSION
    )
    vectors.ensure_collection()
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    monkeypatch.setattr(backends, "vector_store", lambda: vectors)
    yield SearchData(objects, vectors, make_detection, vtest_crop_jpeg())
    vectors.close()
