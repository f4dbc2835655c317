"""Spreading a label by similarity on vtest.avi: precision and reach per positive threshold.

    uv run python -m tests.bench.bench_spreading [--positives 3] [--window 20]

Crops and ground truth as in `tests/bench/bench_retrieval.py`: every other matched update of
every track that NanoDet-g and ByteTrack find in vtest.avi (`retrieval_crops`, cached), embedded
with the production crop vector (`cloud.embeddings.crop_vector`); tracks that mix two people
dropped, a person's repeat visits (`SAME_PERSON`) counted as the same person.

Each person track in turn is a label "this person", marked the way a user marks one sighting:
its first `--positives` crops are the positives. Every other crop of the same part of the clip
(fit: frames before 398, eval: from 398, both: the whole clip; any class) is a candidate,
scored with the rule the product uses (`cloud.labels.spreading.spread_confidence`; no
negatives yet). A suggestion is
right when it shows the same person. Crops of the positives' own track within `--window`
source frames of a positive are left out (a near-copy of a marked crop is no achievement).

Per threshold, over all labels of a half:

- precision: right suggestions / suggestions (micro-averaged);
- reach: right suggestions / the same person's candidate crops (recall);
- per label: suggestions, and sightings suggested (tracks, as the page groups them), of which
  wrong (another person or object: each one a reject click);
- labels with any right suggestion / with any suggestion at all.

Then the feedback loop: for each person track of the fit half as a label, the fit half's
suggestions are accepted where right (more positives) and rejected where wrong (negatives), and
the eval half's crops arrive as new ones: the sightings suggested per label, wrong and right,
without and with that feedback.

Not a pytest test: prints two tables, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from cloud.labels.spreading import spread_confidence
from tests.bench.bench_retrieval import MIXED_TRACKS, SPLIT_FRAME, identities
from tests.bench.retrieval_crops import vtest_crops

Vectors = npt.NDArray[np.float32]

THRESHOLDS = (0.86, 0.87, 0.88, 0.89, 0.90, 0.91, 0.92, 0.93, 0.94)
NEGATIVE_THRESHOLD = 0.99


@dataclass(frozen=True)
class Row:
    half: str
    threshold: float
    labels: int
    precision: float
    reach: float
    suggestions_per_label: float
    tracks_per_label: float
    wrong_tracks_per_label: float
    labels_reached: int
    labels_with_suggestions: int


def embed(images: list[npt.NDArray[np.uint8]]) -> Vectors:
    from cloud.embeddings.embedder import EmbedderSettings, load_crop_embedder

    embedder = load_crop_embedder(EmbedderSettings())
    vectors: Vectors = embedder.embed(images)
    return vectors


def measure(
    vectors: Vectors,
    track: npt.NDArray[np.int64],
    label: npt.NDArray[np.str_],
    frame: npt.NDArray[np.int64],
    *,
    half: str,
    positives: int,
    window: int,
) -> list[Row]:
    keep = ~np.isin(track, list(MIXED_TRACKS))
    if half != "both":
        keep &= frame < SPLIT_FRAME if half == "fit" else frame >= SPLIT_FRAME
    rows = np.flatnonzero(keep)
    person = identities(track)
    labels = [t for t in np.unique(track[rows]) if label[rows][track[rows] == t][0] == "person"]
    totals = {t: np.zeros(5) for t in THRESHOLDS}  # right, suggested, same, tracks, wrong
    reached = dict.fromkeys(THRESHOLDS, 0)
    suggesting = dict.fromkeys(THRESHOLDS, 0)
    counted = 0
    for number in labels:
        own = rows[track[rows] == number]
        own = own[np.argsort(frame[own], kind="stable")]
        if len(own) <= positives:
            continue
        marked = own[:positives]
        near = (track[rows] == number) & (
            np.abs(frame[rows][:, None] - frame[marked][None, :]).min(axis=1) <= window
        )
        candidates = rows[~near]
        same = person[candidates] == person[marked[0]]
        counted += 1
        for threshold in THRESHOLDS:
            confidence = spread_confidence(
                vectors[candidates],
                vectors[marked],
                np.zeros((0, vectors.shape[1]), np.float32),
                positive_threshold=threshold,
                negative_threshold=NEGATIVE_THRESHOLD,
            )
            suggested = confidence > 0
            right = suggested & same
            suggested_tracks = set(track[candidates][suggested].tolist())
            wrong_tracks = set(track[candidates][suggested & ~same].tolist())
            totals[threshold] += (
                right.sum(),
                suggested.sum(),
                same.sum(),
                len(suggested_tracks),
                len(wrong_tracks),
            )
            reached[threshold] += int(right.any())
            suggesting[threshold] += int(suggested.any())
    result = []
    for threshold in THRESHOLDS:
        n_right, n_suggested, n_same, n_tracks, n_wrong = totals[threshold].tolist()
        n = max(counted, 1)
        result.append(
            Row(
                half=half,
                threshold=threshold,
                labels=counted,
                precision=n_right / n_suggested if n_suggested else float("nan"),
                reach=n_right / n_same if n_same else float("nan"),
                suggestions_per_label=n_suggested / n,
                tracks_per_label=n_tracks / n,
                wrong_tracks_per_label=n_wrong / n,
                labels_reached=reached[threshold],
                labels_with_suggestions=suggesting[threshold],
            )
        )
    return result


@dataclass(frozen=True)
class Feedback:
    threshold: float
    labels: int
    wrong_before: float
    right_before: float
    wrong_after: float
    right_after: float


def feedback(
    vectors: Vectors,
    track: npt.NDArray[np.int64],
    label: npt.NDArray[np.str_],
    frame: npt.NDArray[np.int64],
    *,
    threshold: float,
    positives: int,
) -> Feedback:
    """What accepting and rejecting the fit half's suggestions does to the eval half's (the
    crops that arrive later): sightings suggested per label, wrong and right, without and with
    that feedback (accepted crops as positives, rejected ones as negatives)."""
    keep = ~np.isin(track, list(MIXED_TRACKS))
    fit, later = (
        np.flatnonzero(keep & (frame < SPLIT_FRAME)),
        np.flatnonzero(keep & ~(frame < SPLIT_FRAME)),
    )
    person = identities(track)
    totals = np.zeros(4)  # wrong before, right before, wrong after, right after
    labels = 0
    for number in np.unique(track[fit]):
        own = fit[track[fit] == number]
        own = own[np.argsort(frame[own], kind="stable")]
        if label[own[0]] != "person" or len(own) <= positives:
            continue
        labels += 1
        marked = own[:positives]
        candidates = fit[track[fit] != number]
        first = spread(vectors[candidates], vectors[marked], vectors[:0], threshold) > 0
        same = person[candidates] == person[number]
        accepted, rejected = candidates[first & same], candidates[first & ~same]
        right_later = person[later] == person[number]
        for column, (pos, neg) in enumerate(
            ((marked, later[:0]), (np.concatenate([marked, accepted]), rejected))
        ):
            suggested = spread(vectors[later], vectors[pos], vectors[neg], threshold) > 0
            totals[2 * column] += len(set(track[later][suggested & ~right_later].tolist()))
            totals[2 * column + 1] += len(set(track[later][suggested & right_later].tolist()))
    n = max(labels, 1)
    return Feedback(threshold, labels, *(float(total) / n for total in totals))


def spread(
    candidates: Vectors, positives: Vectors, negatives: Vectors, threshold: float
) -> Vectors:
    return spread_confidence(
        candidates,
        positives,
        negatives,
        positive_threshold=threshold,
        negative_threshold=NEGATIVE_THRESHOLD,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--positives", type=int, default=3, help="crops marked per label")
    parser.add_argument("--window", type=int, default=20, help="near-copy window, frames")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    crops = vtest_crops()
    vectors = embed(crops.images())
    print(
        f"vtest.avi: {len(crops.jpegs)} crops, {len(np.unique(crops.track))} tracks; "
        f"{args.positives} positives per label, window {args.window} frames"
    )
    header = (
        f"{'half':4} {'thr':>5} {'labels':>6} {'precision':>9} {'reach':>6} "
        f"{'sugg/label':>10} {'tracks/label':>12} {'wrong/label':>11} {'reached':>8}"
    )
    print(header)
    print("-" * len(header))
    rows: list[Row] = []
    for half in ("fit", "eval", "both"):
        for row in measure(
            vectors,
            crops.track,
            crops.label,
            crops.frame,
            half=half,
            positives=args.positives,
            window=args.window,
        ):
            rows.append(row)
            print(
                f"{row.half:4} {row.threshold:5.2f} {row.labels:6d} {row.precision:9.3f} "
                f"{row.reach:6.3f} {row.suggestions_per_label:10.1f} {row.tracks_per_label:12.2f} "
                f"{row.wrong_tracks_per_label:11.2f} "
                f"{row.labels_reached:3d}/{row.labels_with_suggestions:<4d}"
            )
    print(
        "\nfeedback: the fit half's suggestions accepted (right) and rejected (wrong), then the "
        "eval half's crops arrive; sightings suggested per label"
    )
    print(
        f"{'thr':>5} {'labels':>6} {'wrong before':>12} {'right before':>12} "
        f"{'wrong after':>11} {'right after':>11}"
    )
    effects = []
    for threshold in THRESHOLDS:
        effect = feedback(
            vectors,
            crops.track,
            crops.label,
            crops.frame,
            threshold=threshold,
            positives=args.positives,
        )
        effects.append(effect)
        print(
            f"{effect.threshold:5.2f} {effect.labels:6d} {effect.wrong_before:12.2f} "
            f"{effect.right_before:12.2f} {effect.wrong_after:11.2f} {effect.right_after:11.2f}"
        )
    print(
        json.dumps(
            {
                "positives": args.positives,
                "rows": [asdict(row) for row in rows],
                "feedback": [asdict(effect) for effect in effects],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
