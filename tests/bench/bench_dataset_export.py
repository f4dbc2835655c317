"""Dataset export benchmark: how fast labelled crops become a COCO or YOLO zip, and how little
of it is held in memory.

    uv run python -m tests.bench.bench_dataset_export [--frames 500] [--per-frame 2]

On the embedded defaults (SQLite, a local object store) in a temporary folder: `--frames`
frames of vtest.avi, each stored as the context frame of one of its `--per-frame` person crops
(640x480, as the edge sends it), every crop marked positive for one label, then exported the
way the web app's task and the command do (`cloud.datasets.services.build_dataset`) into a
file. The baseline of the ratio column is the floor of any export: reading the same context
frames from the store and writing them into a zip, nothing else. Memory: the peak of Python's
allocations (tracemalloc) during a second COCO export, against the zip's size. Not a pytest
test; it prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2

from tests.footage.clips import VTEST, source

START = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
# Person boxes (x1, y1, x2, y2) in 768x576 frame pixels; where they fall does not matter here.
BOXES = ((248, 216, 288, 310), (498, 155, 532, 235), (636, 238, 688, 322), (272, 216, 310, 302))


def jpeg(image: Any) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return bytes(data)


def fill(frames: int, per_frame: int, objects: Any) -> int:
    """Record the crops and their marks; return the context frames' total bytes."""
    from django.utils import timezone

    from cloud.detections.models import Detection
    from cloud.detections.services import NewDetection, record_detection
    from cloud.fleet.models import Device, HardwareProfile
    from cloud.fleet.registry import ensure_site
    from cloud.labels.models import Label, Mark, Value

    Device.objects.create(
        id="gate-01", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    capture = cv2.VideoCapture(str(source(VTEST)))
    context_bytes = 0
    ids = []
    try:
        for index in range(frames):
            ok, frame = capture.read()
            if not ok:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = capture.read()
            context = jpeg(cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA))
            context_bytes += len(context)
            for slot in range(per_frame):
                x1, y1, x2, y2 = BOXES[slot % len(BOXES)]
                new = NewDetection(
                    id=str(uuid.uuid4()),
                    device_id="gate-01",
                    camera_id="lobby",
                    track_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"track-{index // 20}-{slot}")),
                    ts=START + timedelta(seconds=index / 10),
                    x_min=x1 / 768,
                    y_min=y1 / 576,
                    x_max=x2 / 768,
                    y_max=y2 / 576,
                    frame_width=768,
                    frame_height=576,
                    label="person",
                    score=0.8,
                    model_name="nanodet-g",
                    model_version="1",
                    jpeg=jpeg(frame[y1:y2, x1:x2]),
                )
                if slot == 0:
                    new = dataclasses.replace(new, context_jpeg=context)
                record_detection(new, objects)
                ids.append(new.id)
    finally:
        capture.release()
    label = Label.objects.create(name="walker")
    now = timezone.now()
    Mark.objects.bulk_create(
        Mark(label=label, detection_id=id_, value=Value.POSITIVE, at=now) for id_ in ids
    )
    assert Detection.objects.count() == frames * per_frame
    return context_bytes


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--per-frame", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-dataset-") as temporary:
        return run(args.frames, args.per_frame, Path(temporary))


def run(frames: int, per_frame: int, folder: Path) -> int:
    """The benchmark on a cloud whose database and object store live in `folder`."""
    os.environ.update(
        {
            "SIGHTLINE_CLOUD_DEBUG": "true",
            "SIGHTLINE_CLOUD_DATA_DIR": str(folder),
            "SIGHTLINE_CLOUD_CROP_ANALYSERS": "none",
            "DJANGO_SETTINGS_MODULE": "cloud.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    from cloud import backends
    from cloud.datasets.selection import DatasetFormat, ExportOptions, plan_dataset
    from cloud.datasets.services import build_dataset

    call_command("migrate", verbosity=0)
    objects = backends.object_store()
    context_bytes = fill(frames, per_frame, objects)
    options = ExportOptions(labels=("walker",))
    plan = plan_dataset(options, None)
    keys = [image.key for image in plan.images]

    def baseline() -> None:
        with zipfile.ZipFile(folder / "baseline.zip", "w") as archive:
            for number, key in enumerate(keys):
                archive.writestr(f"{number}.jpg", objects.get(key))

    def export(dataset_format: DatasetFormat) -> Callable[[], object]:
        def run() -> object:
            with (folder / f"{dataset_format}.zip").open("wb") as out:
                return build_dataset(options, dataset_format, None, out)

        return run

    rows = {"baseline: read the context frames, zip them": timed(baseline)}
    rows["plan only (database)"] = timed(lambda: plan_dataset(options, None))
    rows["COCO export"] = timed(export(DatasetFormat.COCO))
    rows["YOLO export"] = timed(export(DatasetFormat.YOLO))
    tracemalloc.start()
    export(DatasetFormat.COCO)()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    zip_bytes = (folder / "coco.zip").stat().st_size

    images = len(plan.images)
    base = next(iter(rows.values()))
    print(
        f"{images} images ({frames} frames), {plan.box_count} boxes, "
        f"{context_bytes / 1e6:.1f} MB of context frames"
    )
    print(f"{'stage':<46} {'seconds':>8} {'images/s':>9} {'x baseline':>11}")
    for name, seconds in rows.items():
        print(f"{name:<46} {seconds:8.2f} {images / seconds:9.0f} {seconds / base:11.2f}")
    print(
        f"peak Python memory during a COCO export: {peak / 1e6:.1f} MB "
        f"for a {zip_bytes / 1e6:.1f} MB zip"
    )
    print("definitions: wall time on this machine; x baseline divides by the first row.")
    print(
        json.dumps(
            {
                "images": images,
                "boxes": plan.box_count,
                "seconds": {name: round(seconds, 3) for name, seconds in rows.items()},
                "peak_python_mb": round(peak / 1e6, 1),
                "zip_mb": round(zip_bytes / 1e6, 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
