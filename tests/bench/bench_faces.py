"""Faces on the sample photos: what the `faces` analyser finds in person crops, how SFace scores
the same person and different people, and what it costs per crop.

    uv run python -m tests.bench.bench_faces

Person crops are cut as the edge cuts them (NanoDet-g at 0.45, 10 % padding), then each goes
through YuNet and SFace as `cloud.faces.analyser` runs them (the face nearest the crop's centre
line). Photos: labelme-examples' sofa (three people) and outdoor pair, opencv-doc's messi5.jpg,
the same footballer scaled to 0.9 (another "camera") and re-cut at 1.3 (an "upload"), and the
first frame's pedestrians of vtest.avi. Prints a table and, as the last line, one JSON object.

Then the edge against the cloud on the same person crops (`edge_vs_cloud`): the edge's face
finder (`edge.crops.faces`, YuNet on the raw pixels of the upper part of the person's box) and
the cloud's search of the crop JPEG it receives (quality 90): faces found by each, the cosine
of the two SFace vectors of each face both found (the edge's aligned on its own JPEG and
landmarks, as the analyser does), the edge's cost per sent crop (search and face JPEG), and
the cloud's search per crop (saved when the edge sends a face) and SFace embedding per face.
"""

from __future__ import annotations

import json
import time
from itertools import combinations

import cv2
import numpy as np

from cloud.faces.recognizer import (
    SAME_PERSON_COSINE,
    FaceModels,
    FaceSettings,
    FoundFace,
    own_face,
)
from cloud.search.detector import UploadDetector, load_upload_detector
from edge.crops.faces import FaceFinder
from edge.crops.faces import FaceSettings as EdgeFaceSettings
from edge.crops.image import encode_jpeg, pixel_rect
from edge.geometry import Box
from models.detection import padded_rect
from tests.cloud.ingest.footage import OBJECTS, vtest_frame
from tests.footage.photos import MESSI, SOFA, TWO_PEOPLE, photo


def main() -> None:
    detector = load_upload_detector()
    faces = FaceModels(FaceSettings())
    messi = photo(MESSI)
    images = {
        "sofa": photo(SOFA),
        "two-people": photo(TWO_PEOPLE),
        "messi": messi,
        "messi-0.9": cv2.resize(messi, None, fx=0.9, fy=0.9),
        "messi-upload": cv2.resize(messi[20:, 10:], None, fx=1.3, fy=1.3),
        "vtest-0": vtest_frame(0),
    }
    found: list[tuple[str, np.ndarray]] = []  # (who, face vector)
    report: dict[str, object] = {}
    times_ms = []
    for name, image in images.items():
        height, width = image.shape[:2]
        people = [d for d in detector.detect(image, score_threshold=0.45) if d.label == "person"]
        if name == "vtest-0":  # the hand-boxed pedestrians the cloud tests store
            boxes = [o.box for o in OBJECTS if o.frame == 0 and o.label == "person"]
            crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in boxes]
        else:
            rects = [padded_rect(d, width, height, 0.1) for d in people]
            crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in rects]
        rows = []
        for index, crop in enumerate(crops):
            started = time.perf_counter()
            in_crop = faces.find(crop)
            face = own_face(in_crop, crop.shape[1]) if in_crop else None
            vector = faces.embed(crop, face) if face else None
            times_ms.append((time.perf_counter() - started) * 1000)
            rows.append(
                {
                    "faces": len(in_crop),
                    "score": round(face.score, 3) if face else None,
                    "width_px": round(face.x2 - face.x1) if face else None,
                }
            )
            if vector is not None:
                who = "messi" if name.startswith("messi") else f"{name}/{index}"
                found.append((who, vector))
        report[name] = {"crops": len(crops), "with_face": sum(bool(r["score"]) for r in rows)}
        print(f"{name:13} {len(crops)} person crops: {rows}")
    same: list[float] = []
    different: list[float] = []
    for (who_a, a), (who_b, b) in combinations(found, 2):
        (same if who_a == who_b else different).append(float(np.dot(a, b)))
    summary = {
        "images": report,
        "same_person_cosine": [round(x, 3) for x in sorted(same)],
        "different_people_max_cosine": round(max(different), 3),
        "different_people_pairs": len(different),
        "threshold": SAME_PERSON_COSINE,
        "ms_per_person_crop_median": round(float(np.median(times_ms)), 1),
    }
    print(
        f"same person: {summary['same_person_cosine']}; different people ({len(different)} "
        f"pairs): max {summary['different_people_max_cosine']}; threshold {SAME_PERSON_COSINE}; "
        f"median {summary['ms_per_person_crop_median']} ms per person crop (find + embed)"
    )
    summary["edge_vs_cloud"] = edge_vs_cloud(detector, faces, images)
    print(json.dumps(summary))


def decoded(jpeg: bytes) -> np.ndarray:
    """A JPEG decoded as the cloud decodes crops (BGR, 8-bit)."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, np.uint8)


def edge_vs_cloud(
    detector: UploadDetector, faces: FaceModels, images: dict[str, np.ndarray]
) -> dict[str, object]:
    """Faces the edge finds on the raw frame against those the cloud finds in the crop JPEG,
    for the same person boxes (NanoDet-g at 0.45, the edge's 10 % padding)."""
    finder = FaceFinder(EdgeFaceSettings())
    edge_ms: list[float] = []
    cloud_ms: list[float] = []
    embed_ms: list[float] = []
    cosines: list[float] = []
    found = {"crops": 0, "edge": 0, "cloud": 0, "both": 0}
    for image in images.values():
        height, width = image.shape[:2]
        for person in detector.detect(image, score_threshold=0.45):
            if person.label != "person":
                continue
            box = Box(person.x1, person.y1, person.x2, person.y2)
            rect = pixel_rect(box, width, height, 0.1)
            pixels = image[rect.y1 : rect.y2, rect.x1 : rect.x2].copy()
            started = time.perf_counter()
            edge = finder.find(pixels, box, rect)
            edge_ms.append((time.perf_counter() - started) * 1000)
            crop = decoded(encode_jpeg(pixels, 90))
            started = time.perf_counter()
            in_crop = faces.find(crop)
            # The search an edge face saves the cloud: the embedding it needs either way.
            cloud_ms.append((time.perf_counter() - started) * 1000)
            cloud = faces.embed(crop, own_face(in_crop, crop.shape[1])) if in_crop else None
            found["crops"] += 1
            found["edge"] += edge is not None
            found["cloud"] += cloud is not None
            if edge is None:
                continue
            # As the analyser embeds it: the edge's JPEG, aligned on the edge's landmarks.
            face_image = decoded(edge.jpeg)
            dx, dy = edge.image_rect.x1, edge.image_rect.y1
            marks = tuple(v - (dx if i % 2 == 0 else dy) for i, v in enumerate(edge.landmarks))
            at = FoundFace(
                edge.box.x1 - dx, edge.box.y1 - dy, edge.box.x2 - dx, edge.box.y2 - dy,
                edge.score, marks,
            )  # fmt: skip
            started = time.perf_counter()
            vector = faces.embed(face_image, at)
            embed_ms.append((time.perf_counter() - started) * 1000)
            if cloud is not None:
                found["both"] += 1
                cosines.append(float(np.dot(vector, cloud)))
    result: dict[str, object] = {
        "faces_found": found,
        "edge_vs_cloud_cosine_min": round(min(cosines), 3) if cosines else None,
        "edge_ms_per_sent_crop_median": round(float(np.median(edge_ms)), 2),
        "edge_ms_per_sent_crop_max": round(max(edge_ms), 2),
        "cloud_ms_per_crop_search_median": round(float(np.median(cloud_ms)), 2),
        "cloud_ms_per_face_embed_median": round(float(np.median(embed_ms)), 2),
    }
    print(f"edge vs cloud on the same person crops: {result}")
    return result


if __name__ == "__main__":
    main()
