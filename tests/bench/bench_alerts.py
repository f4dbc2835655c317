"""What alerts add to each embed batch: `match_new_crops` with 0, 10 and 100 enabled alerts.

Run (needs the test services: ``set -a; . <services>/env; set +a``):
``nice -n 10 uv run python -m tests.bench.bench_alerts``

Creates a database of its own on the test PostgreSQL server (dropped afterwards), migrates it,
and makes 20 cameras, 10 owners (half of them scoped to 5 cameras) and their alerts: a third
on a label (with classifier scores for the batch), a third on a text ("person, upper body red"),
a third on an example vector with a class filter. Each timed run is a fresh batch of 16 crops
(colours and scores stored as the analysers and the labels' consumers would), so every match
is new; with the default minute between notifications most are recorded as suppressed. Prints
p50/p99 of one batch in milliseconds per alert count; the 0-alert run is the baseline (one
query), and the embed worker's own work on 16 crops is about 150-250 ms on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tests.bench.django_database import bench_database
from tests.bench.measure import percentiles

if TYPE_CHECKING:
    from cloud.detections.models import Detection

CAMERAS = 20
BATCH = 16
DIMENSION = 208
DATABASE = "bench_alerts"


def _world() -> tuple[list[int], list[int]]:
    """Cameras and labels; the owners come with their alerts."""
    from cloud.fleet.models import Camera, Device, HardwareProfile
    from cloud.fleet.registry import ensure_site
    from cloud.labels.models import Label

    device = Device.objects.create(
        id="bench", site=ensure_site("bench"), hardware_profile=HardwareProfile.X86_CPU
    )
    cameras = [Camera.objects.create(device=device, edge_id=f"cam{i}").pk for i in range(CAMERAS)]
    labels = [Label.objects.create(name=f"label {i}").pk for i in range(5)]
    return cameras, labels


def _alerts(count: int, cameras: list[int], labels: list[int], rng: np.random.Generator) -> None:
    from django.conf import settings

    from cloud.access.models import Access, Role
    from cloud.alerts.models import Alert
    from cloud.fleet.models import CameraGroup
    from tests.users import make_user

    Alert.objects.all().delete()
    if not count:
        return
    group, _ = CameraGroup.objects.get_or_create(site_id="bench", name="some")
    group.cameras.set(cameras[:5])
    owners = []
    for i in range(10):
        name = f"owner{i}"
        existing = Access.objects.filter(user__username=name).first()
        owner = existing.user if existing else make_user(
            name, Role.LABELER, all_sites=i % 2 == 0, groups=[group]
        )  # fmt: skip
        owners.append(owner)
    example = rng.normal(size=DIMENSION).astype(np.float32)
    example /= np.linalg.norm(example)
    for i in range(count):
        owner = owners[i % len(owners)]
        if i % 3 == 0:
            Alert.objects.create(owner=owner, name=f"a{i}", kind="label", label_id=labels[i % 5])
        elif i % 3 == 1:
            Alert.objects.create(
                owner=owner, name=f"a{i}", kind="search", text="man in a red jacket",
                understood={"terms": [{"source": "class", "name": "person"}],
                            "colours": [{"part": "upper", "colour": "red"}]},
            )  # fmt: skip
        else:
            Alert.objects.create(
                owner=owner, name=f"a{i}", kind="search", example_vector=example.tobytes(),
                example_collection=settings.VECTOR_STORE["collection"], threshold=0.3,
                filters={"label": ["person"]},
            )  # fmt: skip


def _batch(
    cameras: list[int], labels: list[int], rng: np.random.Generator
) -> tuple[list[Detection], npt.NDArray[np.float32]]:
    from django.utils import timezone

    from cloud.attributes.models import DetectionColours
    from cloud.detections.models import Detection, Track
    from cloud.labels.models import Score

    now = datetime.now(UTC)
    rows = []
    for _ in range(BATCH):
        camera = cameras[int(rng.integers(0, CAMERAS))]
        label = "person" if rng.random() < 0.7 else "car"
        track = Track.objects.create(
            id=str(uuid.uuid4()), camera_id=camera, label=label, first_seen=now, last_seen=now
        )
        rows.append(
            Detection(
                id=str(uuid.uuid4()), track=track, camera_id=camera, device_id="bench", ts=now,
                x_min=0.1, y_min=0.1, x_max=0.2, y_max=0.4, frame_width=768, frame_height=576,
                label=label, score=0.8, object_key="crops/x.jpg", model_name="nanodet-g",
                model_version="1",
            )
        )  # fmt: skip
    Detection.objects.bulk_create(rows)
    rows = list(Detection.objects.filter(pk__in=[row.id for row in rows]))
    DetectionColours.objects.bulk_create(
        DetectionColours(detection=row, upper="red" if rng.random() < 0.2 else "blue",
                         upper_share=0.6)
        for row in rows
    )  # fmt: skip
    Score.objects.bulk_create(
        Score(label_id=label, detection=row, track_id=row.track_id,
              source=Score.Source.CLASSIFIER, confidence=float(rng.random()),
              updated_at=timezone.now())
        for row in rows
        for label in labels
    )  # fmt: skip
    vectors = rng.normal(size=(BATCH, DIMENSION)).astype(np.float32)
    return rows, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _measure(repeat: int) -> None:
    from unittest import mock

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cloud.alerts.matching import match_new_crops
    from cloud.alerts.models import AlertEvent

    rng = np.random.default_rng(3)
    cameras, labels = _world()
    # Delivery tasks are not what is measured (they run on their own, after the commit).
    with mock.patch("cloud.alerts.events.deliver_webhook"):
        for count in (0, 10, 100):
            _alerts(count, cameras, labels, rng)
            timings = []
            for _ in range(repeat):
                rows, vectors = _batch(cameras, labels, rng)
                started = time.perf_counter()
                with CaptureQueriesContext(connection) as queries:
                    match_new_crops(rows, vectors)
                timings.append((time.perf_counter() - started) * 1000)
            found = percentiles(timings, (50, 99))
            events = AlertEvent.objects.count()
            print(f"{count:4d} alerts: p50 {found['p50']:7.1f} ms  p99 {found['p99']:7.1f} ms per "
                  f"batch of {BATCH}, {len(queries)} queries in the last "
                  f"({events} events recorded)", flush=True)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed batches per alert count")
    args = parser.parse_args()
    with bench_database(DATABASE):
        _measure(args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
