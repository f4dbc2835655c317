"""Person crops of real photos, stored the way ingest stores an edge's crops."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import cv2
import numpy as np

from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.lib.objectstore import ObjectStore
from cloud.search.example import upload_detector
from models.detection import padded_rect


def jpeg(image: np.ndarray) -> bytes:
    """JPEG at quality 90, as the edge encodes crops."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(data)


def store_person_crops(
    image: np.ndarray,
    camera_id: str,
    make_detection: Callable[..., NewDetection],
    objects: ObjectStore,
) -> list[Detection]:
    """Detect the people in `image` as the edge would, store each padded crop as a track of
    its own on `camera_id`, and return the rows, best detection first."""
    height, width = image.shape[:2]
    rows = []
    for found in upload_detector().detect(image, score_threshold=0.45):
        if found.label != "person":
            continue
        x1, y1, x2, y2 = padded_rect(found, width, height, 0.1)
        detection = make_detection(
            id=str(uuid.uuid4()),
            track_id=str(uuid.uuid4()),
            camera_id=camera_id,
            x_min=x1 / width,
            y_min=y1 / height,
            x_max=x2 / width,
            y_max=y2 / height,
            frame_width=width,
            frame_height=height,
            score=round(found.score, 3),
            jpeg=jpeg(image[y1:y2, x1:x2]),
        )
        record_detection(detection, objects)
        rows.append(Detection.objects.get(pk=detection.id))
    return rows
