"""Faces in person crops (YuNet + SFace on real photos), stored by the embed worker's analyser,
and face search by example from a stored crop and from an uploaded photo."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.services import embed_detections
from cloud.faces.analyser import build
from cloud.faces.models import Face
from cloud.faces.recognizer import SAME_PERSON_COSINE, face_models
from cloud.faces.vectors import face_vectors
from cloud.lib.objectstore import ObjectStore
from tests.cloud.faces.photos import jpeg, store_person_crops
from tests.cloud.ingest.footage import OBJECTS, crop_jpeg
from tests.footage.photos import MESSI, SOFA, TWO_PEOPLE, photo
from tests.users import make_user


@pytest.fixture
def stored(
    stores: ObjectStore, make_detection: Callable[..., NewDetection]
) -> dict[str, list[Detection]]:
    """Person crops of three photos and of vtest.avi, each a track of its own, embedded with
    the faces analyser; keyed by where they come from."""
    messi = photo(MESSI)
    rows = {
        "sofa": store_person_crops(photo(SOFA), "lobby", make_detection, stores),
        "two people": store_person_crops(photo(TWO_PEOPLE), "lobby", make_detection, stores),
        "messi": store_person_crops(messi, "lobby", make_detection, stores),
        # The same footballer again, seen smaller by another camera.
        "messi again": store_person_crops(
            cv2.resize(messi, None, fx=0.9, fy=0.9), "yard", make_detection, stores
        ),
        "vtest": [],
    }
    for item in OBJECTS[:3]:  # three pedestrians of frame 0: faces of a few pixels
        detection = make_detection(
            id=str(uuid.uuid4()), track_id=str(uuid.uuid4()), jpeg=crop_jpeg(item)
        )
        record_detection(detection, stores)
        rows["vtest"].append(Detection.objects.get(pk=detection.id))
    ids = [row.id for group in rows.values() for row in group]
    report = embed_detections(ids, analysers=[build()])
    assert sorted(report.embedded) == sorted(ids)
    return rows


def faces_of(rows: list[Detection]) -> list[Face]:
    return list(Face.objects.filter(detection__in=rows))


def the_one_with_a_face(rows: list[Detection]) -> Detection:
    (face,) = faces_of(rows)
    return face.detection


def test_person_crops_with_a_face_get_one_face_row_and_vector_and_others_none(
    stored: dict[str, list[Detection]],
) -> None:
    found = {name: (len(rows), len(faces_of(rows))) for name, rows in stored.items()}
    # (person crops, crops with a face): the second player in the Messi photo is cut off at
    # the frame's edge and turned away; vtest.avi's faces are a few pixels wide.
    assert found == {
        "sofa": (3, 3),
        "two people": (2, 2),
        "messi": (2, 1),
        "messi again": (3, 1),
        "vtest": (3, 0),
    }
    faces = Face.objects.all()
    vectors = face_vectors()
    assert vectors.count() == len(faces) == 7
    for face in faces:
        assert 0.8 <= face.score <= 1
        assert 0 <= face.x_min < face.x_max <= 1 and 0 <= face.y_min < face.y_max <= 1
        item = vectors.get(face.detection_id)
        assert item is not None and item.properties.track_id == face.detection.track_id


def face_page(client: Client, url: str) -> tuple[list[str], list[float], list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    context = response.context
    same = [card.detection.id for card in context["same"]]
    others = [card.detection.id for card in context["others"]]
    scores = [card.similarity for card in [*context["same"], *context["others"]]]
    return same, scores, others


@pytest.fixture
def viewer(client: Client, db: None) -> Client:
    client.force_login(make_user("analyst"))
    return client


def test_a_stored_face_finds_the_same_person_and_no_one_else(
    stored: dict[str, list[Detection]], viewer: Client
) -> None:
    messi = the_one_with_a_face(stored["messi"])
    again = the_one_with_a_face(stored["messi again"])

    same, scores, others = face_page(viewer, f"/detections/{messi.id}/faces/")

    assert same == [again.id]
    assert scores[0] >= SAME_PERSON_COSINE > max(scores[1:])
    people = {row.id for name in ("sofa", "two people") for row in stored[name]}
    assert set(others) == people  # every other face, each below the threshold


def test_faces_are_searched_under_the_search_filters(
    stored: dict[str, list[Detection]], viewer: Client
) -> None:
    messi = the_one_with_a_face(stored["messi"])
    lobby = str(messi.camera_id)  # the other Messi crop is on camera "yard"
    same, _, others = face_page(viewer, f"/detections/{messi.id}/faces/?camera={lobby}")
    assert same == []
    assert len(others) == 5


def test_an_uploaded_photo_finds_the_person_by_face(
    stored: dict[str, list[Detection]], viewer: Client
) -> None:
    # Another picture of the footballer: scaled, shifted and re-encoded.
    messi = photo(MESSI)
    upload = cv2.resize(messi[20:, 10:], None, fx=1.3, fy=1.3)
    image = SimpleUploadedFile("messi.jpg", jpeg(upload), content_type="image/jpeg")
    response = viewer.post("/example/", {"image": image})
    assert response.status_code == 302
    page = viewer.get(response["Location"])
    assert len(page.context["analysis"].faces) == 1

    upload_id = page.context["analysis"].upload_id
    same, scores, others = face_page(viewer, f"/example/{upload_id}/faces/0/")

    assert set(same) == {
        the_one_with_a_face(stored["messi"]).id,
        the_one_with_a_face(stored["messi again"]).id,
    }
    assert min(scores[:2]) >= SAME_PERSON_COSINE > max(scores[2:])
    assert len(others) == 5


def test_analysing_again_overwrites_and_a_crop_without_a_face_loses_its_face(
    stored: dict[str, list[Detection]],
) -> None:
    rows = stored["sofa"]
    analyser = build()
    images = [(row, photo(SOFA)) for row in rows[:1]]
    before = Face.objects.count()
    analyser.analyse(images)  # the whole photo as if it were the crop: one face kept
    assert Face.objects.count() == before == face_vectors().count()

    analyser.analyse([(rows[0], np.full((200, 100, 3), 127, np.uint8))])

    assert not Face.objects.filter(detection=rows[0]).exists()
    assert face_vectors().get(rows[0].id) is None
    assert face_vectors().count() == before - 1


def test_degenerate_crops_give_no_face() -> None:
    # A strip 4 pixels high made YuNet answer with boxes 1e22 pixels away.
    models = face_models()
    for shape in [(4, 300, 3), (300, 4, 3), (1, 1, 3), (8, 16, 3)]:
        assert models.find(np.full(shape, 127, np.uint8)) == []
