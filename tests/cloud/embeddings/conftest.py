"""The built crop embedder and real detections of vtest.avi crops, stored as ingest stores them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud import backends
from cloud.detections.services import record_detection
from cloud.embeddings import services
from cloud.embeddings.embedder import CropEmbedder
from cloud.embeddings.spec import CROP_EMBEDDING_DIMENSION, CROP_MODEL_NAME
from cloud.fleet.models import Device
from cloud.ingest.crops import parse_upload
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore, create_vector_store
from cloud.lib.vectorstore.embedded import EmbeddedVectorStoreSettings
from models.manifest import load_manifest
from tests.cloud.ingest.footage import OBJECTS
from tests.cloud.ingest.uploads import crop_request
from tests.models.built_models import require_model


@pytest.fixture(scope="session")
def embedder() -> CropEmbedder:
    """The crop embedder on the built model (skips, or fails under CI, when it is not built)."""
    path = require_model(CROP_MODEL_NAME)
    return CropEmbedder(path, load_manifest(CROP_MODEL_NAME), batch_size=4)


@pytest.fixture
def vectors(tmp_path: Path) -> Iterator[VectorStore]:
    """An embedded vector store in a fresh file, with the crop model's dimension."""
    store = create_vector_store(
        EmbeddedVectorStoreSettings(path=tmp_path / "vectors.sqlite3"),
        dimension=CROP_EMBEDDING_DIMENSION,
    )
    store.ensure_collection()
    yield store
    store.close()


@pytest.fixture
def detection_ids(provisioned_device: Device, objects: ObjectStore) -> list[str]:
    """The eight vtest.avi crops (three people and a van, in frames 0 and 3), as ingest stores
    them: JPEG in the object store, row in the database."""
    ids = []
    for item in OBJECTS:
        detection = parse_upload(crop_request(item))
        record_detection(detection, objects)
        ids.append(detection.id)
    return ids


@pytest.fixture
def configured(
    embedder: CropEmbedder,
    objects: ObjectStore,
    vectors: VectorStore,
    monkeypatch: pytest.MonkeyPatch,
) -> VectorStore:
    """The embedder and the stores installed as this process's own, as a worker builds them
    from the settings; returns the vector store."""
    monkeypatch.setattr(services, "crop_embedder", lambda: embedder)
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    monkeypatch.setattr(backends, "vector_store", lambda: vectors)
    return vectors
