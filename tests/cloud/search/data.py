"""Search test data: detections with real JPEG crops in a local object store and their
vectors in an embedded vector store, recorded the way ingest and the embed worker do it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.lib.objectstore import crop_key
from cloud.lib.objectstore.local import LocalObjectStore
from cloud.lib.vectorstore import DetectionProperties, VectorItem
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore
from tests.footage.clips import VTEST, source

# Short vectors whose cosines are easy to work out by hand; the views never look at the length.
DIMENSION = 4


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
    recorded: list[NewDetection] = field(default_factory=list)

    def add(self, vector: Sequence[float] | None = None, **changes: Any) -> NewDetection:
        """Store a crop, record its detection and, given a vector, embed it."""
        detection = self.make_detection(id=str(uuid.UUID(int=len(self.recorded) + 1)), **changes)
        key = crop_key(detection.device_id, detection.camera_id, detection.ts, detection.id)
        detection = dataclasses.replace(detection, object_key=key)
        self.objects.put(key, self.jpeg, "image/jpeg")
        assert record_detection(detection)
        if vector is not None:
            self.embed(detection.id, vector)
        self.recorded.append(detection)
        return detection

    def embed(self, detection_id: str, vector: Sequence[float]) -> None:
        row = Detection.objects.select_related("track").get(pk=detection_id)
        # The properties `cloud.embeddings.services` stores: camera_id is the Camera's pk.
        properties = DetectionProperties(
            device_id=row.device_id,
            camera_id=str(row.camera_id),
            track_id=row.track.edge_id,
            label=row.label,
            ts=row.ts,
        )
        self.vectors.upsert([VectorItem(row.id, np.asarray(vector, np.float32), properties)])
