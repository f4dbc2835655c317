"""Faces the edge found on the full-resolution frame: carried on the wire, stored beside the
crop, embedded by the faces analyser from the edge's JPEG and landmarks instead of a second
search; a malformed or missing edge face falls back to today's path and loses nothing."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from django.test import Client

from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.services import embed_detections
from cloud.faces.analyser import build
from cloud.faces.models import Face
from cloud.faces.recognizer import SAME_PERSON_COSINE, FaceModels, face_models, own_face
from cloud.faces.vectors import face_vectors
from cloud.ingest.crops import parse_upload
from cloud.lib.objectstore import ObjectStore
from edge.crops.faces import FaceFinder, FaceSettings
from edge.crops.image import encode_jpeg, pixel_rect
from edge.geometry import Box, FrameSize
from edge.records import Crop, ModelRef
from edge.wire import crop_request
from sightline.ingest.v1 import ingest_pb2
from tests.cloud.conftest import PEDESTRIAN
from tests.cloud.faces.photos import store_person_crops
from tests.footage.photos import SOFA, photo
from tests.models.built_models import require_model
from tests.users import make_user

# The woman in the middle of the labelme sofa photo, as NanoDet-g boxes her (tests/edge/crops).
MIDDLE = Box(200.0, 110.0, 300.0, 288.0)


def edge_request() -> ingest_pb2.UploadCropsRequest:
    """The upload of her crop, cut and face-searched by the edge on the photo's raw pixels."""
    require_model("yunet")
    frame = photo(SOFA)
    height, width = frame.shape[:2]
    rect = pixel_rect(MIDDLE, width, height, 0.1)
    pixels = frame[rect.y1 : rect.y2, rect.x1 : rect.x2].copy()
    face = FaceFinder(FaceSettings()).find(pixels, MIDDLE, rect)
    assert face is not None
    crop = Crop(
        detection_id=str(uuid.uuid4()),
        track_id=str(uuid.uuid4()),
        camera_id="lobby",
        frame_time=datetime(2026, 11, 28, 3, 0, tzinfo=UTC),
        box=MIDDLE,
        crop_box=rect,
        frame_size=FrameSize(width, height),
        label="person",
        score=0.68,
        jpeg=encode_jpeg(pixels, 90),
        model=ModelRef("nanodet-g", "1"),
        face=face,
    )
    return crop_request(crop, device_id=PEDESTRIAN.device_id)


def cloud_face(row: Detection, objects: ObjectStore) -> tuple[list[float], np.ndarray]:
    """The face box (crop fractions) and vector the cloud makes of the crop on its own (YuNet
    on the crop JPEG)."""
    image = cv2.imdecode(np.frombuffer(objects.get(row.object_key), np.uint8), cv2.IMREAD_COLOR)
    models = face_models()
    face = own_face(models.find(image), image.shape[1])
    height, width = image.shape[:2]
    box = [face.x1 / width, face.y1 / height, face.x2 / width, face.y2 / height]
    return box, models.embed(image, face)


def test_the_edge_face_is_embedded_without_looking_again(
    stores: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    detection = parse_upload(edge_request())
    assert detection.face is not None
    record_detection(detection, stores)
    row = Detection.objects.get(pk=detection.id)
    assert row.face_key and stores.get(row.face_key) == detection.face.jpeg
    # The cloud's own search for her face on the crop, for comparison, before it is refused.
    own_box, own = cloud_face(row, stores)

    def refuse(*_: object) -> None:
        raise AssertionError("the analyser looked for a face although the edge sent one")

    monkeypatch.setattr(FaceModels, "find", refuse)
    assert embed_detections([row.id], analysers=[build()]).embedded == [row.id]

    face = Face.objects.get(detection=row)
    assert face.score == pytest.approx(detection.face.score, abs=1e-6)
    # Her face, where the cloud finds it in the crop: the crop fractions are right.
    assert [face.x_min, face.y_min, face.x_max, face.y_max] == pytest.approx(own_box, abs=0.03)
    item = face_vectors().get(row.id)
    assert item is not None and item.properties.track_id == row.track_id
    # The same person as the cloud's own vector of her face says, by SFace's threshold.
    assert float(np.dot(item.vector, own)) >= SAME_PERSON_COSINE


def test_an_edge_face_is_found_by_face_search(
    stores: ObjectStore, make_detection: Callable[..., NewDetection], client: Client
) -> None:
    detection = parse_upload(edge_request())
    record_detection(detection, stores)
    # The same three people seen smaller by another camera, stored the cloud's way.
    yard = store_person_crops(
        cv2.resize(photo(SOFA), None, fx=0.9, fy=0.9), "yard", make_detection, stores
    )
    embed_detections([detection.id, *(row.id for row in yard)], analysers=[build()])
    client.force_login(make_user("analyst"))

    response = client.get(f"/detections/{detection.id}/faces/")

    assert response.status_code == 200
    same = [card.detection for card in response.context["same"]]
    # Her crop on the other camera first (the one centred on her), then any other crop whose
    # own face is hers (a box around her and her neighbour); nobody else's face.
    assert same and all(row in yard and row.x_min < 0.5 < row.x_max for row in same)
    assert abs((same[0].x_min + same[0].x_max) / 2 - 0.5) < 0.05
    others = {card.detection.id for card in response.context["others"]}
    assert others == {row.id for row in yard} - {row.id for row in same}


def test_a_malformed_edge_face_is_dropped_and_the_crop_kept(
    stores: ObjectStore, caplog: pytest.LogCaptureFixture
) -> None:
    request = edge_request()
    del request.face.landmarks[9]
    with caplog.at_level(logging.WARNING):
        detection = parse_upload(request)
    assert detection.face is None and detection.jpeg == request.jpeg
    assert "edge face dropped" in caplog.text and "face.landmarks" in caplog.text
    record_detection(detection, stores)
    row = Detection.objects.get(pk=detection.id)
    assert (row.face_key, row.edge_face) == ("", None)
    # Today's path: the cloud finds her face on the crop itself.
    embed_detections([row.id], analysers=[build()])
    assert Face.objects.filter(detection=row).exists()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda face: face.box.__setattr__("x_max", float("nan")),
        lambda face: face.__setattr__("score", 1.5),
        lambda face: face.__setattr__("jpeg", face.jpeg[:-2]),
        lambda face: face.box.__setattr__("y_max", 0.99),  # outside the crop
    ],
    ids=["nan box", "score", "cut-short jpeg", "outside the crop"],
)
def test_edge_faces_breaking_the_contract_are_dropped(spoil: object) -> None:
    request = edge_request()
    spoil(request.face)  # type: ignore[operator]
    detection = parse_upload(request)
    assert detection.face is None and detection.id == request.detection_id


def test_a_lost_edge_face_image_falls_back_to_the_crop(stores: ObjectStore) -> None:
    detection = parse_upload(edge_request())
    record_detection(detection, stores)
    row = Detection.objects.get(pk=detection.id)
    stores.delete(row.face_key)
    embed_detections([row.id], analysers=[build()])
    assert Face.objects.filter(detection=row).exists()
