"""What text search returns on vtest.avi: detector crops, colour analysis, queries.

Run: ``uv run python -m tests.bench.text_search_vtest [--every 40] [--out DIR]``

Every `--every`-th frame of vtest.avi goes through the real NanoDet-g detector (score >= 0.4);
each detection's crop is cut as the edge cuts it (padding 0.1), recorded as ingest records it
(a throwaway SQLite database and a local object store in a temporary directory) and analysed
by the colour analyser. Then the example queries run through `cloud.search.text` and the top
results are printed with their colours; with `--out`, a strip of each query's top crops is
written there, to check by eye. Also prints the analyser's time per crop and each query's time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

QUERIES = (
    "pedestrian",
    "automobile",
    "man in a red jacket",
    "woman in blue jeans",
    "white car",
    "person in a black coat",
)
_IDS = uuid.UUID("0c7a4b8e-6f1d-4e2a-9b3c-5d7e9f1a2b4c")


def _setup(workdir: Path) -> None:
    defaults = {
        "SIGHTLINE_CLOUD_SECRET_KEY": "bench-only-secret-key-that-is-long-enough-0123456789",
        "SIGHTLINE_CLOUD_ALLOWED_HOSTS": "localhost",
        "SIGHTLINE_CLOUD_DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "SIGHTLINE_CLOUD_CELERY_BROKER_URL": "memory://",
        "DJANGO_SETTINGS_MODULE": "cloud.settings",
    }
    for name, value in defaults.items():
        os.environ[name] = value
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=40, help="analyse every n-th frame")
    parser.add_argument("--top", type=int, default=5, help="results printed per query")
    parser.add_argument("--out", type=Path, help="write each query's top crops here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _setup(Path(tmp))
        return _run(Path(tmp), args)


def _run(workdir: Path, args: argparse.Namespace) -> int:
    from pydantic import SecretStr

    from cloud.attributes.analyser import ColourAnalyser
    from cloud.attributes.models import DetectionColours
    from cloud.detections.models import Detection
    from cloud.detections.services import NewDetection, record_detection
    from cloud.embeddings.embedder import decode_jpeg
    from cloud.fleet.models import Device, HardwareProfile
    from cloud.fleet.registry import ensure_site
    from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
    from cloud.search.criteria import SearchCriteria
    from cloud.search.text import MAX_RESULTS, search_text
    from cloud.search.vocabulary import vocabulary
    from edge.crops.image import cut, pixel_rect
    from edge.detectors.ort import OrtDetector
    from edge.detectors.preprocess import Preprocessor
    from edge.detectors.registry import create_detector
    from edge.geometry import Box
    from models.detection import to_detections
    from tests.edge.nanodet import detector_settings
    from tests.footage.clips import VTEST, source

    objects = LocalObjectStore(
        LocalObjectStoreSettings(
            type="local", root=workdir / "objects", url_signing_key=SecretStr("k" * 32)
        )
    )
    objects.ensure_bucket()
    Device.objects.create(
        id="bench", site=ensure_site("bench"), hardware_profile=HardwareProfile.X86_CPU
    )
    detector = create_detector(detector_settings(threads=1))
    assert isinstance(detector, OrtDetector)
    preprocess = Preprocessor(detector.spec)
    capture = cv2.VideoCapture(str(source(VTEST)))
    t0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    index = 0
    crops: dict[str, np.ndarray] = {}
    while True:
        ok, read = capture.read()
        if not ok:
            break
        frame = np.asarray(read, dtype=np.uint8)
        if index % args.every == 0:
            tensor, transform = preprocess(frame)
            for n, found in enumerate(
                to_detections(detector.detect(tensor), transform, detector.spec.labels)
            ):
                if found.score < 0.4:
                    continue
                height, width = frame.shape[:2]
                box = Box(found.x1, found.y1, found.x2, found.y2)
                image = cut(frame, pixel_rect(box, width, height, 0.1))
                ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
                name = f"{index}/{n}"
                detection = NewDetection(
                    id=str(uuid.uuid5(_IDS, name)),
                    device_id="bench",
                    camera_id="vtest",
                    track_id=str(uuid.uuid5(_IDS, f"track/{name}")),
                    ts=t0 + timedelta(seconds=index / 10),
                    x_min=box.x1 / width,
                    y_min=box.y1 / height,
                    x_max=box.x2 / width,
                    y_max=box.y2 / height,
                    frame_width=width,
                    frame_height=height,
                    label=found.label,
                    score=found.score,
                    model_name="nanodet-g",
                    model_version="1",
                    jpeg=jpeg.tobytes(),
                )
                record_detection(detection, objects)
                crops[detection.id] = image
        index += 1
    capture.release()
    rows = list(Detection.objects.all())
    decoded = [(row, decode_jpeg(objects.get(row.object_key))) for row in rows]
    started = time.perf_counter()
    ColourAnalyser().analyse(decoded)
    per_crop_ms = (time.perf_counter() - started) * 1000 / max(len(decoded), 1)
    labels = sorted({row.label for row in rows})
    print(f"{len(rows)} crops from {index} frames (every {args.every}th): {labels}")
    print(f"colour analyser: {per_crop_ms:.2f} ms per crop (decode excluded), stored in one write")
    words = vocabulary()
    colours = {row.detection_id: row for row in DetectionColours.objects.all()}
    for query in QUERIES:
        started = time.perf_counter()
        results = search_text(query, SearchCriteria(), words=words)
        top = results.top(0, args.top)
        total = len(results.top(0, MAX_RESULTS))
        took_ms = (time.perf_counter() - started) * 1000
        print(
            f"\n{query!r} -> understood as: {results.interpretation.describe()}"
            f" ({total} tracks listed, {took_ms:.0f} ms)"
        )
        for row in top:
            c = colours[row.id]
            print(
                f"  {row.label:8s} t={row.ts:%M:%S.%f}"[:-5]
                + f"  whole {c.colour}/{c.colour2} {c.colour_share:.2f}/{c.colour2_share:.2f}"
                + (
                    f"  upper {c.upper}/{c.upper2} {c.upper_share:.2f}/{c.upper2_share:.2f}"
                    f"  lower {c.lower}/{c.lower2} {c.lower_share:.2f}/{c.lower2_share:.2f}"
                    if c.upper
                    else ""
                )
            )
        if args.out is not None and top:
            args.out.mkdir(parents=True, exist_ok=True)
            tiles = [cv2.resize(crops[row.id], (64, 128)) for row in top]
            cv2.imwrite(str(args.out / f"{query.replace(' ', '_')}.png"), np.hstack(tiles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
