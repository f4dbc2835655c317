"""Labelling an appearance on vtest.avi: clicks one by one, with spreading, with a learned
label; the learned label's precision and recall on held-out tracks; scoring 100k crops.

    uv run python -m tests.bench.bench_labeling [--groups upper:black,lower:black,lower:blue]
        [--crops-per-track 3] [--suggestions-page 12] [--objects 100000] [--postgres]

Tracks and ground truth. The person tracks NanoDet-g and ByteTrack find in vtest.avi
(`tests/bench/retrieval_crops.py`, the retrieval benchmark's crops; its hand-found mixed tracks
dropped). Each track keeps `--crops-per-track` of its views, evenly spread in time, as the edge
sends a few views per track, each embedded with the production crop vector. An appearance to
label is a body part's colour ("lower body blue"): a track has it when the colour analyser
(`cloud.attributes`, the one text search uses) names that colour as the part's main colour in
most of the track's views (all of them, not only the ones kept). That is a rule, not a
person's eye, but it is an appearance the crop vector was not built for, and every way of
labelling is scored against the same truth.

The user, as a click model (the label exists and is chosen already in every case):
- one by one: the sightings grid (`cloud.search.views.PAGE_SIZE`, 48 tracks a page, newest
  first) is read page by page; one click per matching track, one per further page.
- spreading: read the grid from the top, marking tracks (one click each, positive or
  negative) until the marks are enough for a learned label (`check_enough`: 5 views and 2
  tracks on each side), so both ways start from the same marks. Then review suggestions
  (`cloud.labels.spreading.spread_confidence` on the marks, the label's default thresholds; a
  track's confidence is its best view's), `--suggestions-page` at a time, best first: one
  click ("accept all" or "reject all") when they are all of a kind, else one per track of the
  fewer kind to select it, one to act on the selection and one for all the rest. Accepting
  marks every view of a track positive, rejecting negative. The user stops after a page with
  nothing to accept, or when nothing is suggested.
- spreading + learned: the same, and a classifier is trained after every page (as
  `marks_changed` does); its scores at or above its threshold join the suggestions.
- "to every track": a label must reach every matching track, so after the suggestions the
  user reads the grid once more for what was missed (the pages plus one click per missed
  track). "Found" is what the suggestions alone reached.

Held-out figures: a classifier trained on every track of the first half of the clip (frames
before the retrieval benchmark's `SPLIT_FRAME`, all marked by the truth), measured on the
tracks of the second half: per view (score at or above the threshold) and per track (its best
view), next to the in-app estimate (the training's own folds held out by track), for C of 1,
10 and 100 (`cloud.learned.training.REGULARISATION`).

Scoring 100k: synthetic unit vectors of the crop vector's dimension and a classifier passing
about a tenth of them; the numpy product alone, then the backfill (`cloud.learned.services`:
vectors paged out of the embedded vector store, scores written) and the embed worker's path
(`score_new_crops`, batches of 32) on SQLite and, with `--postgres` and the test services'
environment (`set -a; . .services/env`), PostgreSQL. Each database runs in a child process.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cloud.learned.training import (
    MIN_MARKS,
    MIN_TRACKS,
    Marks,
    NotEnoughMarks,
    check_enough,
    train,
)
from tests.bench.bench_retrieval import MIXED_TRACKS, SPLIT_FRAME
from tests.bench.retrieval_crops import CropSet, vtest_crops

Vectors = npt.NDArray[np.float32]
PAGE = 48
"""Tracks per page of the grid and of the suggestions (`cloud.search.views.PAGE_SIZE`)."""
POSITIVE_THRESHOLD, NEGATIVE_THRESHOLD = 0.90, 0.99
"""The label's default spreading thresholds (`cloud.labels.models`)."""


@dataclass(frozen=True)
class Tracks:
    """The person tracks: views (rows of `vectors`) per track, newest track first."""

    numbers: list[int]
    views: list[npt.NDArray[np.intp]]
    first_frame: list[int]
    vectors: Vectors
    colours: dict[str, list[str]]
    """Per part (upper, lower), each track's main colour in most of its views ("": none)."""


def load_tracks(crops: CropSet, per_track: int) -> Tracks:
    from cloud.attributes.colours import crop_colours
    from cloud.attributes.geometry import box_in_crop
    from cloud.embeddings.embedder import EmbedderSettings, load_crop_embedder

    images = crops.images()
    chosen: list[tuple[int, npt.NDArray[np.intp]]] = []
    for number in np.unique(crops.track[crops.label == "person"]):
        if int(number) in MIXED_TRACKS:
            continue
        rows = np.flatnonzero(crops.track == number)
        rows = rows[np.argsort(crops.frame[rows], kind="stable")]
        keep = rows[np.unique(np.linspace(0, len(rows) - 1, per_track).round().astype(int))]
        chosen.append((int(number), keep))
    chosen.sort(key=lambda item: -int(crops.frame[item[1][0]]))  # newest first, as the grid
    embedder = load_crop_embedder(EmbedderSettings())
    flat = np.concatenate([rows for _, rows in chosen])
    vectors = embedder.embed([images[i] for i in flat])
    views, start = [], 0
    colours: dict[str, list[str]] = {"upper": [], "lower": []}
    for number, rows in chosen:
        views.append(np.arange(start, start + len(rows)))
        start += len(rows)
        # The truth is read from every view of the track, not only the ones kept.
        names: dict[str, list[str]] = {"upper": [], "lower": []}
        for i in np.flatnonzero(crops.track == number):
            height, width = images[i].shape[:2]
            x1, y1, x2, y2 = (float(v) for v in crops.box[i])
            box = box_in_crop((x1 / 768, y1 / 576, x2 / 768, y2 / 576), (768, 576), (width, height))
            found = crop_colours(images[i], box, person=True)
            for part, colour in (("upper", found.upper), ("lower", found.lower)):
                names[part].append(colour.main if colour else "")
        for part, seen in names.items():
            name, count = Counter(seen).most_common(1)[0]
            colours[part].append(name if 2 * count > len(seen) else "")
    return Tracks(
        numbers=[number for number, _ in chosen],
        views=views,
        first_frame=[int(crops.frame[rows[0]]) for _, rows in chosen],
        vectors=np.asarray(vectors, dtype=np.float32),
        colours=colours,
    )


def bulk_clicks(right: int, wrong: int) -> int:
    """Clicks to accept `right` and reject `wrong` tracks shown on one suggestions page: one
    ("accept all" or "reject all") when they are all of a kind, else one per track of the
    fewer kind to select it, one to act on the selection and one to act on all the rest."""
    if right == 0 or wrong == 0:
        return 1
    return 2 + min(right, wrong)


@dataclass
class Session:
    """A simulated user's marks: +1 / -1 per track index, 0 unmarked; and their clicks."""

    truth: npt.NDArray[np.bool_]
    tracks: Tracks
    marks: npt.NDArray[np.int8]
    suggestions_page: int
    clicks: int = 0
    trainings: int = 0
    training_s: float = 0.0

    def marked_rows(self, value: int) -> npt.NDArray[np.intp]:
        chosen = [self.tracks.views[t] for t in np.flatnonzero(self.marks == value)]
        return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.intp)

    def training_marks(self) -> Marks:
        """The marks as a classifier's training set: every view of a marked track."""
        positives, negatives = self.marked_rows(1), self.marked_rows(-1)
        rows = np.concatenate([positives, negatives])
        owner = np.empty(len(self.tracks.vectors), dtype=np.intp)
        for t, views in enumerate(self.tracks.views):
            owner[views] = t
        return Marks(
            self.tracks.vectors[rows],
            np.arange(len(rows)) < len(positives),
            [str(owner[r]) for r in rows],
        )

    def seed(self) -> None:
        """Read the grid from the top, marking tracks (one click each) until the marks are
        enough for a learned label (`check_enough`): each track of a side still short."""
        for t in range(len(self.truth)):
            side = 1 if self.truth[t] else -1
            try:
                check_enough(self.training_marks())
            except NotEnoughMarks:
                pass
            else:
                self.clicks += (t - 1) // PAGE  # pages turned to get here
                return
            views = sum(len(self.tracks.views[u]) for u in np.flatnonzero(self.marks == side))
            tracks = int((self.marks == side).sum())
            if views < MIN_MARKS or tracks < MIN_TRACKS:
                self.marks[t] = side
                self.clicks += 1

    def sweep(self) -> int:
        """Read the grid for matching tracks still unmarked; return how many were missed."""
        missed = int((self.truth & (self.marks != 1)).sum())
        self.clicks += math.ceil(len(self.truth) / PAGE) - 1 + missed
        return missed


def track_scores(session: Session, learned: bool) -> npt.NDArray[np.float64]:
    """Each unmarked track's suggestion confidence (0: not suggested)."""
    from cloud.labels.spreading import spread_confidence
    from cloud.learned.logistic import probabilities

    tracks, vectors = session.tracks, session.tracks.vectors
    view_scores = spread_confidence(
        vectors,
        vectors[session.marked_rows(1)],
        vectors[session.marked_rows(-1)],
        positive_threshold=POSITIVE_THRESHOLD,
        negative_threshold=NEGATIVE_THRESHOLD,
    ).astype(np.float64)
    if learned:
        try:
            started = time.perf_counter()
            trained = train(session.training_marks())
            session.training_s += time.perf_counter() - started
            session.trainings += 1
            p = probabilities(vectors, trained.weights, trained.bias)
            view_scores = np.maximum(view_scores, np.where(p >= trained.threshold, p, 0.0))
        except NotEnoughMarks:
            pass
    best = np.array([view_scores[views].max() for views in tracks.views])
    return np.where(session.marks == 0, best, 0.0)


def review(session: Session, learned: bool) -> None:
    """Suggestion pages until one has nothing to accept, or none are left."""
    while True:
        scores = track_scores(session, learned)
        ranked = np.argsort(-scores, kind="stable")
        order = [int(t) for t in ranked if scores[t] > 0][: session.suggestions_page]
        if not order:
            return
        right = [t for t in order if session.truth[t]]
        wrong = [t for t in order if not session.truth[t]]
        session.clicks += bulk_clicks(len(right), len(wrong))
        session.marks[right] = 1
        session.marks[wrong] = -1
        if not right:
            return


@dataclass(frozen=True)
class Run:
    clicks: int
    found: int
    trainings: int = 0
    training_s: float = 0.0


def simulate(tracks: Tracks, truth: npt.NDArray[np.bool_], how: str, page: int) -> Run:
    """Clicks to give every matching track the label, `how` (module docstring)."""
    if how == "one by one":
        return Run(int(truth.sum()) + math.ceil(len(truth) / PAGE) - 1, int(truth.sum()))
    session = Session(truth, tracks, np.zeros(len(truth), dtype=np.int8), page)
    session.seed()
    review(session, learned=how != "spreading")
    found = int((truth & (session.marks == 1)).sum())
    session.sweep()
    return Run(session.clicks, found, session.trainings, session.training_s)


def held_out(tracks: Tracks, truth: npt.NDArray[np.bool_], regularisation: float) -> str:
    """Train on the first half's tracks, measure on the second half's (module docstring)."""
    from cloud.learned import training
    from cloud.learned.logistic import probabilities

    fit = [t for t in range(len(truth)) if tracks.first_frame[t] < SPLIT_FRAME]
    test = [t for t in range(len(truth)) if tracks.first_frame[t] >= SPLIT_FRAME]
    rows = np.concatenate([tracks.views[t] for t in fit])
    owners = [t for t in fit for _ in tracks.views[t]]
    started = time.perf_counter()
    trained = training.train(
        training.Marks(tracks.vectors[rows], truth[owners], [str(t) for t in owners]),
        regularisation=regularisation,
    )
    seconds = time.perf_counter() - started
    p = probabilities(tracks.vectors, trained.weights, trained.bias)
    view_truth = np.concatenate([np.full(len(tracks.views[t]), truth[t]) for t in test])
    view_said = np.concatenate([p[tracks.views[t]] >= trained.threshold for t in test])
    track_said = np.array([p[tracks.views[t]].max() >= trained.threshold for t in test])

    def pr(said: npt.NDArray[np.bool_], true: npt.NDArray[np.bool_]) -> str:
        hits = int((said & true).sum())
        return f"P {hits / max(int(said.sum()), 1):.2f} R {hits / max(int(true.sum()), 1):.2f}"

    return (
        f"C={regularisation:<5g} trained on {len(fit)} tracks ({int(truth[fit].sum())} with it) "
        f"in {seconds:.2f} s; held-out {len(test)} tracks ({int(truth[test].sum())} with it): "
        f"views {pr(view_said, view_truth)}, tracks {pr(track_said, truth[test])}; "
        f"in-app estimate P {trained.precision:.2f} R {trained.recall:.2f}"
    )


# -- scoring 100k objects, in a child process per database ------------------------------------


def _django(database_url: str, workdir: Path) -> None:
    os.environ.update(
        {
            "SIGHTLINE_CLOUD_SECRET_KEY": "bench-only-secret-key-that-is-long-enough-0123456789",
            "SIGHTLINE_CLOUD_ALLOWED_HOSTS": "localhost",
            "SIGHTLINE_CLOUD_DATABASE_URL": database_url,
            "SIGHTLINE_CLOUD_CELERY_BROKER_URL": "memory://",
            "SIGHTLINE_CLOUD_DATA_DIR": str(workdir),
            "DJANGO_SETTINGS_MODULE": "cloud.settings",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def score_objects(database_url: str, objects: int) -> dict[str, float]:
    """Store `objects` synthetic embedded crops, then time the three ways of scoring them."""
    with tempfile.TemporaryDirectory() as tmp:
        _django(database_url, Path(tmp))
        from django.utils import timezone

        from cloud import backends
        from cloud.detections.models import Detection, Track
        from cloud.embeddings.spec import CROP_EMBEDDING_DIMENSION
        from cloud.fleet.models import Camera, Device, HardwareProfile
        from cloud.fleet.registry import ensure_site
        from cloud.labels.models import Label, Score
        from cloud.learned import services
        from cloud.learned.logistic import probabilities
        from cloud.learned.models import Backfill, Classifier, LearnedLabel
        from cloud.learned.scoring import score_new_crops
        from cloud.lib.vectorstore import DetectionProperties, VectorItem

        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((objects, CROP_EMBEDDING_DIMENSION)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        weights = rng.standard_normal(CROP_EMBEDDING_DIMENSION)
        weights *= 40 / np.linalg.norm(weights)
        # About a tenth above 0.5: the logit's spread is 40/sqrt(d); shift it by 1.28 sigma.
        bias = -1.28 * 40 / math.sqrt(CROP_EMBEDDING_DIMENSION)
        started = time.perf_counter()
        p = probabilities(vectors, weights, bias)
        numpy_s = time.perf_counter() - started
        print(
            f"  numpy only: {objects} probabilities in {numpy_s * 1000:.1f} ms "
            f"({(p >= 0.5).mean():.1%} at or above 0.5)"
        )

        device = Device.objects.create(
            id="bench-01",
            name="bench",
            site=ensure_site("hq"),
            hardware_profile=HardwareProfile.X86_CPU,
        )
        camera = Camera.objects.create(device=device, edge_id="cam")
        t0 = datetime(2026, 11, 27, tzinfo=UTC)
        ids = [str(uuid.UUID(int=i + 1)) for i in range(objects)]
        tracks = [
            Track(
                id=str(uuid.UUID(int=(1 << 100) + i)),
                camera=camera,
                label="person",
                first_seen=t0,
                last_seen=t0,
            )
            for i in range(0, objects, 4)
        ]
        Track.objects.bulk_create(tracks, batch_size=2000)
        now = timezone.now()
        Detection.objects.bulk_create(
            [
                Detection(
                    id=detection_id,
                    track_id=tracks[i // 4].id,
                    camera=camera,
                    device=device,
                    ts=t0 + timedelta(seconds=i),
                    x_min=0.1,
                    y_min=0.1,
                    x_max=0.2,
                    y_max=0.4,
                    frame_width=768,
                    frame_height=576,
                    label="person",
                    score=0.8,
                    object_key=f"crops/{detection_id}.jpg",
                    model_name="nanodet-g",
                    model_version="1",
                    embedded_at=now,
                )
                for i, detection_id in enumerate(ids)
            ],
            batch_size=2000,
        )
        store = backends.vector_store()
        for start in range(0, objects, 2000):
            store.upsert(
                [
                    VectorItem(
                        ids[i],
                        vectors[i],
                        DetectionProperties(
                            "bench-01", str(camera.pk), tracks[i // 4].id, "person", t0
                        ),
                    )
                    for i in range(start, min(start + 2000, objects))
                ]
            )
        label = Label.objects.create(name="bench")
        classifier = Classifier.objects.create(
            label=label,
            version=1,
            collection=backends.crop_collection(),
            dimension=CROP_EMBEDDING_DIMENSION,
            weights=[float(w) for w in weights],
            bias=bias,
            threshold=0.5,
            positives=5,
            negatives=5,
            folds=2,
            precision=1.0,
            recall=1.0,
            marks_digest="",
            trained_at=now,
            training_s=0.0,
        )
        LearnedLabel.objects.create(label=label, classifier=classifier)
        Backfill.objects.create(classifier=classifier)

        started = time.perf_counter()
        services.backfill(classifier.pk)
        backfill_s = time.perf_counter() - started
        written = Score.objects.filter(label=label).count()
        print(
            f"  backfill (vectors paged from the embedded store, scores written): "
            f"{backfill_s:.1f} s, {objects / backfill_s:,.0f} crops/s, {written} scores"
        )

        detections = list(Detection.objects.order_by("id"))
        started = time.perf_counter()
        for start in range(0, objects, 32):
            score_new_crops(detections[start : start + 32], vectors[start : start + 32])
        worker_s = time.perf_counter() - started
        print(
            f"  embed worker's consumer, batches of 32: {worker_s:.1f} s, "
            f"{worker_s / objects * 1e6:.0f} us/crop"
        )
        return {"numpy_s": numpy_s, "backfill_s": backfill_s, "worker_s": worker_s}


def _child(url: str, objects: int) -> dict[str, float]:
    """Run `score_objects` in a child process (Django's settings are per process)."""
    command = [sys.executable, "-m", "tests.bench.bench_labeling", "--child", url]
    result = subprocess.run(
        [*command, "--objects", str(objects)], check=True, capture_output=True, text=True
    )
    lines = result.stdout.splitlines()
    print("\n".join(lines[:-1]))
    figures: dict[str, float] = json.loads(lines[-1])
    return figures


def run_child(database: str, objects: int) -> dict[str, float]:
    """Time scoring `objects` crops on SQLite or on a fresh PostgreSQL database."""
    if database == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-labeling-") as tmp:
            return _child(f"sqlite:///{tmp}/db.sqlite3", objects)
    import psycopg

    admin = os.environ["SIGHTLINE_TEST_DATABASE_URL"]
    name = f"bench_labeling_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        return _child(admin.rsplit("/", 1)[0] + "/" + name, objects)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def label_group(
    tracks: Tracks, truth: npt.NDArray[np.bool_], suggestions_page: int
) -> dict[str, object]:
    """Print and return the clicks of each way and the held-out figures for one group."""
    figures: dict[str, object] = {}
    baseline = 0
    for how in ("one by one", "spreading", "spreading + learned"):
        run = simulate(tracks, truth, how, suggestions_page)
        baseline = baseline or run.clicks
        figures[how] = {"clicks": run.clicks, "ratio": run.clicks / baseline, "found": run.found}
        extra = (
            f", {run.trainings} trainings, {run.training_s / max(run.trainings, 1):.2f} s each"
            if run.trainings
            else ""
        )
        print(
            f"  {how:22} {run.clicks:4d} clicks to every track ({run.clicks / baseline:.2f}x "
            f"one by one); suggestions found {run.found} of {int(truth.sum())}{extra}"
        )
    for regularisation in (1.0, 10.0, 100.0):
        line = held_out(tracks, truth, regularisation)
        figures[f"held-out C={regularisation:g}"] = line
        print("  " + line)
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--groups",
        default="upper:black,lower:black,lower:blue",
        help="appearances to label, part:colour, comma-separated",
    )
    parser.add_argument("--crops-per-track", type=int, default=3)
    parser.add_argument(
        "--suggestions-page", type=int, default=12, help="suggestions reviewed at a time"
    )
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true", help="also score on PostgreSQL")
    parser.add_argument("--skip-clicks", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        print(json.dumps(score_objects(args.child, args.objects)))
        return 0
    summary: dict[str, object] = {}
    if not args.skip_clicks:
        tracks = load_tracks(vtest_crops(), args.crops_per_track)
        for part, seen in tracks.colours.items():
            print(f"{part} colours of the tracks: {dict(Counter(seen).most_common())}")
        print(f"{len(tracks.numbers)} person tracks, {len(tracks.vectors)} views")
        for group in args.groups.split(","):
            part, colour = group.split(":")
            truth = np.array([c == colour for c in tracks.colours[part]])
            print(f"label '{part} body {colour}': {int(truth.sum())} tracks")
            summary[group] = label_group(tracks, truth, args.suggestions_page)
    print(f"scoring {args.objects} objects, SQLite:")
    summary["sqlite"] = run_child("sqlite", args.objects)
    if args.postgres:
        print(f"scoring {args.objects} objects, PostgreSQL:")
        summary["postgres"] = run_child("postgres", args.objects)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
