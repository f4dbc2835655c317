"""YuNet and SFace as OpenCV's face API loads them, on the labelme example photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from cv2.typing import MatLike

from tests.models.built_models import require_model, unavailable

PHOTOS = Path("/usr/share/doc/labelme-examples/examples/bbox_detection/data_dataset_voc/JPEGImages")
SAME_PERSON = 0.363  # OpenCV Zoo's threshold for SFace


def photo(name: str) -> MatLike:
    image = cv2.imread(str(PHOTOS / name))
    if image is None:
        unavailable(f"{PHOTOS / name} is missing: apt-get install labelme-examples")
    return image


def faces(detector: cv2.FaceDetectorYN, image: MatLike) -> MatLike:
    detector.setInputSize((image.shape[1], image.shape[0]))
    _, found = detector.detect(image)
    return np.zeros((0, 15), np.float32) if found is None else found


def test_yunet_finds_the_faces_and_sface_tells_people_apart() -> None:
    detector = cv2.FaceDetectorYN.create(str(require_model("yunet")), "", (320, 320))
    recognizer = cv2.FaceRecognizerSF.create(str(require_model("sface")), "")

    def embed(image: MatLike, face: MatLike) -> MatLike:
        return recognizer.feature(recognizer.alignCrop(image, face))

    def cosine(a: MatLike, b: MatLike) -> float:
        return float(recognizer.match(a, b, cv2.FaceRecognizerSF_FR_COSINE))

    group = photo("2011_000006.jpg")  # three people on a sofa, a fourth far behind
    smaller = cv2.resize(group, None, fx=0.8, fy=0.8)
    found, found_smaller = faces(detector, group), faces(detector, smaller)

    assert len(found) >= 3 and (found[:, -1] > 0.8).all()
    # The first face again, in the scaled-down photo: the detection nearest its scaled position.
    nearest = np.linalg.norm(found_smaller[:, :2] - found[0, :2] * 0.8, axis=1).argmin()
    same = cosine(embed(group, found[0]), embed(smaller, found_smaller[nearest]))
    people = [embed(group, face) for face in found[:3]]
    different = [cosine(people[i], people[j]) for i in range(3) for j in range(i)]

    # Measured: 0.81 for the same face, 0.15 to 0.36 between the three people. The threshold
    # sits just above 0.36, so the gap, not the threshold, is what is asserted for strangers.
    assert same > SAME_PERSON
    assert max(different) < same - 0.3
