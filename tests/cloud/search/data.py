"""Search test data: detections with real JPEG crops in a local object store and their
vectors in an embedded vector store, recorded the way ingest and the embed worker do it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import SecretStr

from cloud import backends
from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from cloud.lib.vectorstore import DetectionProperties, VectorItem
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings
from tests.footage.clips import VTEST, source

# Short vectors whose cosines are easy to work out by hand; the views never look at the length.
DIMENSION = 4
# Namespace of the track ids `track_id` makes.
TRACKS = uuid.UUID("0f3e7a52-3c9d-4b1e-a8f6-2d4c6b8e0a1f")


def track_id(name: str) -> str:
    """The id of a test's track called `name` (a UUID, as the edge makes them)."""
    return str(uuid.uuid5(TRACKS, name))


def vtest_crop_jpeg() -> bytes:
    """A pedestrian crop from frame 120 of vtest.avi (the box of the sample detection)."""
    capture = cv2.VideoCapture(str(source(VTEST)))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, 120)
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok, "vtest.avi ended early"
    ok, jpeg = cv2.imencode(".jpg", frame[180:331, 412:468])
    assert ok
    return bytes(jpeg)


@dataclass
class SearchData:
    """Records detections the way ingest and the embed worker would."""

    objects: LocalObjectStore
    vectors: EmbeddedVectorStore
    make_detection: Callable[..., NewDetection]
    jpeg: bytes
    recorded: list[Detection] = field(default_factory=list)

    def add(self, vector: Sequence[float] | None = None, **changes: Any) -> Detection:
        """Record a detection with the crop JPEG and, given a vector, embed it; return its row.

        Each detection is a track of its own unless `changes` names one (`track_id("...")`):
        several crops of one object share their track id.
        """
        number = len(self.recorded) + 1
        detection = self.make_detection(id=str(uuid.UUID(int=number)), jpeg=self.jpeg, **changes)
        if "track_id" not in changes:
            own_track = track_id(f"{detection.device_id}/{detection.camera_id}/{number}")
            detection = dataclasses.replace(detection, track_id=own_track)
        assert record_detection(detection, self.objects).created
        row = Detection.objects.get(pk=detection.id)
        if vector is not None:
            self.embed(row, vector)
        self.recorded.append(row)
        return row

    def embed(self, row: Detection, vector: Sequence[float]) -> None:
        # The properties `cloud.embeddings.services` stores: camera_id is the Camera's pk.
        properties = DetectionProperties(
            device_id=row.device_id,
            camera_id=str(row.camera_id),
            track_id=row.track_id,
            label=row.label,
            ts=row.ts,
        )
        self.vectors.upsert([VectorItem(row.id, np.asarray(vector, np.float32), properties)])


def installed_search_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_detection: Callable[..., NewDetection]
) -> Iterator[SearchData]:
    """Empty stores (a local object store under `tmp_path`, an in-memory embedded vector
    store) installed as `cloud.backends`' own for the test, as `SearchData`; closed after."""
    objects = LocalObjectStore(
        LocalObjectStoreSettings(
            type="local", root=tmp_path / "objects", url_signing_key=SecretStr("k" * 32)
        )
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
