"""Faces on the sample photos: what the `faces` analyser finds in person crops, how SFace scores
the same person and different people, and what it costs per crop.

    uv run python -m tests.bench.bench_faces

Person crops are cut as the edge cuts them (NanoDet-g at 0.45, 10 % padding), then each goes
through YuNet and SFace as `cloud.faces.analyser` runs them (the face nearest the crop's centre
line). Photos: labelme-examples' sofa (three people) and outdoor pair, opencv-doc's messi5.jpg,
the same footballer scaled to 0.9 (another "camera") and re-cut at 1.3 (an "upload"), and the
first frame's pedestrians of vtest.avi. Prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import json
import time
from itertools import combinations

import cv2
import numpy as np

from cloud.faces.recognizer import SAME_PERSON_COSINE, FaceModels, FaceSettings, own_face
from cloud.search.detector import load_upload_detector
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
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
