"""Faces at the edge: YuNet on the raw pixels of person crops being sent, carried on the wire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.crops import faces
from edge.crops.faces import FaceFinder, FaceSettings
from edge.crops.image import pixel_rect
from edge.crops.selector import CropSettings
from edge.geometry import Box
from edge.pipelines.tracks import TrackLedger
from edge.records import ModelRef
from edge.tracking.base import TrackState
from edge.wire import crop_request
from models.cache import model_path, verified_bytes
from models.errors import ChecksumMismatchError
from models.manifest import manifest_path, read_runtime_manifest
from tests.edge.sinks import RecordingSink
from tests.edge.updates import PERSON, track_update
from tests.footage.photos import SOFA, photo
from tests.models.built_models import require_model

# The woman in the middle of the labelme sofa photo (500 x 375), face towards the camera, as
# NanoDet-g boxes her at 0.45; her neighbours' faces show at both sides of her padded crop.
MIDDLE = Box(200.0, 110.0, 300.0, 288.0)
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def finder() -> FaceFinder:
    require_model("yunet")
    return FaceFinder(FaceSettings())


def test_the_person_s_own_face_is_found_in_frame_pixels(finder: FaceFinder) -> None:
    frame = photo(SOFA)
    rect = pixel_rect(MIDDLE, frame.shape[1], frame.shape[0], 0.1)
    pixels = frame[rect.y1 : rect.y2, rect.x1 : rect.x2].copy()
    face = finder.find(pixels, MIDDLE, rect)
    assert face is not None
    # Her face, in the upper part of her box and near its centre line, not a neighbour's.
    assert MIDDLE.x1 < face.box.x1 < face.box.x2 < MIDDLE.x2
    assert MIDDLE.y1 <= face.box.y1 < face.box.y2 < MIDDLE.y1 + 0.6 * (MIDDLE.y2 - MIDDLE.y1)
    assert abs((face.box.x1 + face.box.x2) / 2 - 250) < 20
    assert face.box.x2 - face.box.x1 >= 24 and 0.8 <= face.score <= 1
    xs, ys = face.landmarks[0::2], face.landmarks[1::2]
    assert len(face.landmarks) == 10
    assert all(face.box.x1 <= x <= face.box.x2 for x in xs)
    assert all(face.box.y1 <= y <= face.box.y2 for y in ys)
    # The JPEG is the frame's raw face region plus the margin, at full resolution.
    image = cv2.imdecode(np.frombuffer(face.jpeg, np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = face.image_rect
    assert x1 <= face.box.x1 and face.box.x2 <= x2 and y1 <= face.box.y1 and face.box.y2 <= y2
    assert image.shape == (y2 - y1, x2 - x1, 3)
    assert np.abs(image.astype(int) - frame[y1:y2, x1:x2].astype(int)).mean() < 4


def test_no_face_in_a_small_pedestrian_or_below_the_head(
    finder: FaceFinder, vtest_frames: list[np.ndarray]
) -> None:
    frame = vtest_frames[0]
    rect = pixel_rect(PERSON, frame.shape[1], frame.shape[0], 0.1)
    assert finder.find(frame[rect.y1 : rect.y2, rect.x1 : rect.x2].copy(), PERSON, rect) is None
    # Only the top of the box is searched: a box whose top is the sofa woman's legs has none.
    sofa = photo(SOFA)
    legs = Box(MIDDLE.x1, 220.0, MIDDLE.x2, MIDDLE.y2)
    rect = pixel_rect(legs, sofa.shape[1], sofa.shape[0], 0.0)
    assert finder.find(sofa[rect.y1 : rect.y2, rect.x1 : rect.x2].copy(), legs, rect) is None


def ledger_crops(settings: CropSettings, frames: list[np.ndarray], box: Box) -> RecordingSink:
    sink = RecordingSink()
    book = TrackLedger(settings, camera_id="lobby", model=ModelRef("nanodet-g", "1"), sink=sink)
    for index, frame in enumerate(frames):
        state = TrackState.NEW if index == 1 else TrackState.UPDATED
        updates = [track_update(index, state, box=box)] if index else []
        book.observe(frame, START + timedelta(seconds=index / 10), updates)
    book.end([track_update(len(frames), TrackState.ENDED, box=box)])
    return sink


def test_a_sent_person_crop_carries_its_face_to_the_wire() -> None:
    require_model("yunet")
    frames = [photo(SOFA)] * 4
    sink = ledger_crops(CropSettings(faces=FaceSettings()), frames, MIDDLE)
    (crop,) = sink.crops
    assert crop.face is not None
    message = crop_request(crop, device_id="dev").face
    width, height = crop.frame_size
    assert message.box.x_min == pytest.approx(crop.face.box.x1 / width)
    assert message.box.y_max == pytest.approx(crop.face.box.y2 / height)
    assert list(message.landmarks) == pytest.approx(
        [v / (width if i % 2 == 0 else height) for i, v in enumerate(crop.face.landmarks)]
    )
    assert message.score == pytest.approx(crop.face.score)
    assert message.image_box.x_min == pytest.approx(crop.face.image_rect.x1 / width)
    assert message.jpeg == crop.face.jpeg


def test_faces_are_off_by_default_and_then_cost_nothing(
    monkeypatch: pytest.MonkeyPatch, vtest_frames: list[np.ndarray]
) -> None:
    assert CropSettings().faces is None

    def refuse(*_: object) -> None:
        raise AssertionError("the face finder was built although faces are off")

    monkeypatch.setattr("edge.pipelines.tracks.FaceFinder", refuse)
    sink = ledger_crops(CropSettings(), vtest_frames[:4], PERSON)
    (crop,) = sink.crops
    assert crop.face is None
    assert not crop_request(crop, device_id="dev").HasField("face")


def test_face_settings_refuse_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        CropSettings.model_validate({"faces": {"score": 0.5}})


def test_an_altered_yunet_file_is_refused(tmp_path: Path) -> None:
    require_model("yunet")
    manifest = read_runtime_manifest(manifest_path(faces.YUNET))
    altered = model_path(manifest, tmp_path)
    altered.parent.mkdir(parents=True)
    altered.write_bytes(model_path(manifest).read_bytes() + b"\0")
    with pytest.raises(ChecksumMismatchError):
        verified_bytes(faces.YUNET, tmp_path)
