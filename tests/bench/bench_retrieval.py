"""Same-object retrieval on vtest.avi, with the edge's own tracks as ground truth.

    uv run python -m tests.bench.bench_retrieval [--window 20] [--sheets DIR]

Crops: every other matched update of every track that NanoDet-g and ByteTrack find in vtest.avi
at 5 fps, cut as the edge cuts them (`tests/bench/retrieval_crops.py`, cached). Two crops are the
same object when they belong to the same track.

Protocol. The clip is split in time: frames before `SPLIT_FRAME` are the "fit" half (used to
choose the new embedding's parts and weights, and to calibrate the search threshold), frames from
it on are the "eval" half, whose figures are the ones to quote. Within a half:

- crop level: every crop is a query; the gallery is every other crop of the half except the
  query track's crops within `--window` source frames of the query (near-duplicates: the next
  frame is not a success). Positives: the query track's crops outside the window. Queries with
  no positive are skipped. recall@1, recall@5 (a positive in the first k) and mAP.
- track level: each track's crops are split in time into an early and a late segment (the late
  one starting `--window` frames after the early one ends); a segment's vector is the
  normalised mean of its crops'. The early segment is the query; the gallery is every other
  segment; the positive is the same track's late segment.
- crop to track: a crop query ranks tracks (what `cloud.search.similarity` returns); a track's
  score is its best crop's ("max") or its crops' mean ("mean"); the positive is the query's
  own track (its crops outside the window).
- track to track: a track's early segment asks for tracks (`segment_to_track`): by each of its
  crops alone, each crop with query expansion, the segment's mean, or the best pair of crops;
  tracks ranked by their best crop; the positive is its late segment, the gallery every other
  person's whole track.

"person" restricts queries and gallery to persons; "all" keeps every class.

Ground truth. ByteTrack sometimes hands one id to two people when they cross; such a track
counts the other person's crops as positives. Tracks listed in `MIXED_TRACKS` were found mixed by
looking at their contact sheets (`--sheets DIR` writes one image per track) and are dropped from
queries and gallery. vtest.avi also shows a few people walking through several times, each time
as a new track: those tracks (`SAME_PERSON`, by eye, only where the clothes leave no doubt) are
left out of each other's galleries, neither hits nor misses. Other repeat visits that could not
be told apart by eye (several men in black jackets and jeans) stay counted as misses for every
method alike, so the figures are a lower bound. Crop pairs of one `SAME_PERSON` group count as
the same person in the threshold calibration.

References measured in the same run: a colour histogram of the whole crop (HSV, 8x4x4 bins) and
the previous production embedding (MobileNetV2 bottleneck, global mean pool of a 224 x 224
input, 1280-d); also the new network's four stripes side by side (5120-d) and their mean, and
the colour parts alone, which the new crop vector is made of. Not a pytest test: prints tables.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from tests.bench.retrieval_crops import CropSet, vtest_crops

logger = logging.getLogger("tests.bench.bench_retrieval")

Image = npt.NDArray[np.uint8]
Vectors = npt.NDArray[np.float32]
Embed = Callable[[Sequence[Image]], Vectors]

SPLIT_FRAME = 398
"""First source frame of the eval half (vtest.avi has 795)."""
MIXED_TRACKS: frozenset[int] = frozenset({3, 28, 45})
"""Track numbers whose crops show two people for long (hand-checked on the contact sheets):
3 and 45 switch from one person to another, 28 boxes a group beside a van. Dropped."""
SAME_PERSON: tuple[frozenset[int], ...] = (
    frozenset({6, 50, 53, 63}),  # man in a red and navy jacket
    frozenset({7, 46, 47, 64}),  # blonde woman in a black coat
    frozenset({19, 20}),  # person in a light blue hooded jacket
    frozenset({40, 52}),  # woman in a red jacket
    frozenset({56, 57, 58, 61}),  # man in a blue jacket
)
"""Tracks of one person walking through the scene again (hand-checked, only where the clothes
leave no doubt). Another track of the query's person is neither a hit nor a miss: it is left
out of the query's gallery, as re-identification benchmarks leave out "junk" images."""


def unit_rows(matrix: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    rows: Vectors = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return rows


def colour_histogram(images: Sequence[Image]) -> Vectors:
    """The baseline: one HSV histogram (8 hue x 4 saturation x 4 value bins) of the whole crop."""
    rows = []
    for image in images:
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256])
        rows.append(hist.reshape(-1))
    return unit_rows(np.array(rows))


def identities(track: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Per crop, the smallest track number of its person's `SAME_PERSON` group (else its own)."""
    person = {number: min(group) for group in SAME_PERSON for number in group}
    return np.array([person.get(int(t), int(t)) for t in track], dtype=np.int64)


@dataclass(frozen=True)
class Scores:
    recall1: float
    recall5: float
    mean_ap: float
    queries: int


def _ranks_metrics(ranked_positive: list[npt.NDArray[np.bool_]]) -> Scores:
    """Scores from, per query, the gallery's positive flags in ranked order."""
    if not ranked_positive:
        return Scores(float("nan"), float("nan"), float("nan"), 0)
    r1 = r5 = ap = 0.0
    for flags in ranked_positive:
        hits = np.flatnonzero(flags)
        r1 += float(hits[0] < 1)
        r5 += float(hits[0] < 5)
        ap += float(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))
    n = len(ranked_positive)
    return Scores(r1 / n, r5 / n, ap / n, n)


def crop_level(vectors: Vectors, crops: CropSet, rows: npt.NDArray[np.intp], window: int) -> Scores:
    """Crop queries against crops (see the module docstring)."""
    v, track, frame = vectors[rows], crops.track[rows], crops.frame[rows]
    person = identities(track)
    similarity = v @ v.T
    ranked = []
    for i in range(len(rows)):
        same = track == track[i]
        near = same & (np.abs(frame - frame[i]) <= window)
        gallery = ~near & ((person != person[i]) | same)
        positive = same & gallery
        if not positive.any():
            continue
        order = np.argsort(-similarity[i, gallery], kind="stable")
        ranked.append(positive[gallery][order])
    return _ranks_metrics(ranked)


def crop_to_track(
    vectors: Vectors, crops: CropSet, rows: npt.NDArray[np.intp], window: int, how: str
) -> Scores:
    """Crop queries ranking tracks, a track scored by its best crop ("max") or mean ("mean")."""
    v, track, frame = vectors[rows], crops.track[rows], crops.frame[rows]
    person = identities(track)
    similarity = v @ v.T
    tracks = np.unique(track)
    ranked = []
    for i in range(len(rows)):
        same = track == track[i]
        gallery = ~(same & (np.abs(frame - frame[i]) <= window))
        gallery &= (person != person[i]) | same
        if not (gallery & (track == track[i])).any():
            continue
        scores = np.full(len(tracks), -np.inf)
        for t, number in enumerate(tracks):
            members = gallery & (track == number)
            if not members.any():
                continue
            if how == "max":
                scores[t] = similarity[i, members].max()
            else:
                mean = v[members].mean(axis=0)
                scores[t] = float(v[i] @ mean) / max(float(np.linalg.norm(mean)), 1e-12)
        order = np.argsort(-scores, kind="stable")
        ranked.append((tracks[order] == track[i]) & np.isfinite(scores[order]))
    return _ranks_metrics(ranked)


def track_segments(
    crops: CropSet, rows: npt.NDArray[np.intp], window: int
) -> list[tuple[int, npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """Per track with enough crops: (track, early rows, late rows), the late segment starting
    more than `window` frames after the early one ends."""
    segments = []
    for number in np.unique(crops.track[rows]):
        mine = rows[crops.track[rows] == number]
        mine = mine[np.argsort(crops.frame[mine], kind="stable")]
        half = len(mine) // 2
        early = mine[:half]
        if len(early) < 2:
            continue
        late = mine[half:][crops.frame[mine[half:]] > crops.frame[early[-1]] + window]
        if len(late) >= 2:
            segments.append((int(number), early, late))
    return segments


def track_level(
    vectors: Vectors, crops: CropSet, rows: npt.NDArray[np.intp], window: int
) -> Scores:
    """Early-segment queries against every other segment (see the module docstring)."""
    segments = track_segments(crops, rows, window)
    if not segments:
        return _ranks_metrics([])
    early = unit_rows(np.array([vectors[e].mean(axis=0) for _, e, _ in segments]))
    late = unit_rows(np.array([vectors[lt].mean(axis=0) for _, _, lt in segments]))
    n = len(segments)
    person = identities(np.array([number for number, _, _ in segments], np.int64))
    ranked = []
    for i in range(n):
        # The query's own late segment, and every segment of other people.
        others = person != person[i]
        gallery = np.concatenate([late[i : i + 1], late[others], early[others]])
        positive = np.zeros(len(gallery), bool)
        positive[0] = True
        order = np.argsort(-(gallery @ early[i]), kind="stable")
        ranked.append(positive[order])
    return _ranks_metrics(ranked)


def segment_to_track(
    vectors: Vectors, crops: CropSet, rows: npt.NDArray[np.intp], window: int, query: str
) -> Scores:
    """What a user gets who picks a track and asks for similar tracks, tracks ranked by their
    best crop (`cloud.search.similarity`), per way of querying with the track's early segment:

    - "crop": each of its crops alone (one query per crop; what a click on one crop asks);
    - "crop+qe": each crop, then again with the vector averaged with the best crops of the
      first `EXPANSION` tracks found (query expansion);
    - "mean": the normalised mean of its crops (`similarity.track_vector`);
    - "max": a gallery track scores its best pair of a query crop and one of its crops.

    The positive is the track's late segment; the gallery is every other person's track (all
    their crops of the half)."""
    person = identities(crops.track)
    ranked = []
    for number, early, late in track_segments(crops, rows, window):
        others = rows[person[rows] != person[number]]
        members = [
            late,
            *(others[crops.track[others] == t] for t in np.unique(crops.track[others])),
        ]
        owner = np.concatenate([np.full(len(m), t) for t, m in enumerate(members)])
        gallery = vectors[np.concatenate(members)]

        rank = functools.partial(_first_track_flags, owner=owner, tracks=len(members))
        if query == "mean":
            ranked.append(rank(gallery @ unit_rows(vectors[early].mean(axis=0)[None])[0]))
        elif query == "max":
            ranked.append(rank((gallery @ vectors[early].T).max(axis=1)))
        else:
            for crop in early:
                flags = rank(gallery @ vectors[crop])
                if query == "crop+qe":
                    flags = rank(gallery @ expanded(vectors[crop], gallery, owner))
                ranked.append(flags)
    return _ranks_metrics(ranked)


def _first_track_flags(
    similarity: npt.NDArray[np.floating], owner: npt.NDArray[np.int_], tracks: int
) -> npt.NDArray[np.bool_]:
    """Tracks ranked by their best crop's similarity: True where track 0 (the positive) is."""
    best = np.full(tracks, -np.inf)
    np.maximum.at(best, owner, similarity)
    flags: npt.NDArray[np.bool_] = np.argsort(-best, kind="stable") == 0
    return flags


EXPANSION = 2
"""Tracks whose best crops "crop+qe" averages into the query."""


def expanded(
    query: npt.NDArray[np.float32], gallery: Vectors, owner: npt.NDArray[np.int_]
) -> npt.NDArray[np.float32]:
    """The query averaged with the best crops of its `EXPANSION` best tracks."""
    order = np.argsort(-(gallery @ query), kind="stable")
    _, first = np.unique(owner[order], return_index=True)
    best = order[np.sort(first)[:EXPANSION]]
    row: npt.NDArray[np.float32] = unit_rows((query + gallery[best].sum(axis=0))[None])[0]
    return row


def precision_threshold(
    vectors: Vectors, crops: CropSet, rows: npt.NDArray[np.intp], window: int, target: float
) -> tuple[float, float]:
    """The lowest crop-pair score at which pairs scoring at least it are `target` precise
    (same person), and the recall of same-person pairs there; pairs within the window left out."""
    v, track, frame = vectors[rows], crops.track[rows], crops.frame[rows]
    person = identities(track)
    upper = np.triu_indices(len(rows), k=1)
    scores = (v @ v.T)[upper]
    same = person[upper[0]] == person[upper[1]]
    far = np.abs(frame[upper[0]] - frame[upper[1]]) > window
    scores, same = scores[far], same[far]
    order = np.argsort(-scores, kind="stable")
    precision = np.cumsum(same[order]) / np.arange(1, len(order) + 1)
    # The deepest cut in the ranking whose precision is still at least the target.
    good = np.flatnonzero(precision >= target)
    if not len(good):
        return float("nan"), 0.0
    cut = good[-1]
    return float(scores[order][cut]), float(same[order][: cut + 1].sum() / max(same.sum(), 1))


def selected_rows(crops: CropSet, half: str, label: str | None) -> npt.NDArray[np.intp]:
    keep = ~np.isin(crops.track, list(MIXED_TRACKS))
    keep &= crops.frame < SPLIT_FRAME if half == "fit" else crops.frame >= SPLIT_FRAME
    if label is not None:
        keep &= crops.label == label
    return np.flatnonzero(keep)


def write_sheets(crops: CropSet, images: list[Image], out: Path) -> None:
    """One contact sheet per track: its crops in time order, 64 x 128 each, 16 per row."""
    out.mkdir(parents=True, exist_ok=True)
    for number in np.unique(crops.track):
        mine = np.flatnonzero(crops.track == number)
        mine = mine[np.argsort(crops.frame[mine], kind="stable")]
        tiles = [cv2.resize(images[i], (64, 128)) for i in mine]
        tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % 16)
        rows = [np.hstack(tiles[s : s + 16]) for s in range(0, len(tiles), 16)]
        label = crops.label[mine[0]]
        first, last = crops.frame[mine[0]], crops.frame[mine[-1]]
        cv2.imwrite(str(out / f"track-{number:03d}-{label}-{first}-{last}.png"), np.vstack(rows))


def embedders() -> dict[str, Embed]:
    """The methods compared: name -> function from crops to unit vectors."""
    from cloud.embeddings import crop_vector
    from cloud.embeddings.colour_parts import colour_parts
    from cloud.embeddings.embedder import CropEmbedder, EmbedderSettings, load_crop_embedder
    from models.cache import resolve
    from models.manifest import load_manifest

    embedder = load_crop_embedder(EmbedderSettings())
    # The previous crop model: one global mean pool of a square 224 x 224 input.
    square = CropEmbedder(
        resolve("mobilenetv2-reid"),
        load_manifest("mobilenetv2-reid"),
        output_shape=(crop_vector.NETWORK_DIMENSION,),
    )

    def stripes_side_by_side(images: Sequence[Image]) -> Vectors:
        return unit_rows(embedder.network_vectors(images).reshape(len(images), -1))

    def stripes_mean(images: Sequence[Image]) -> Vectors:
        return unit_rows(embedder.network_vectors(images).mean(axis=1))

    return {
        "colour histogram": colour_histogram,
        "mobilenetv2 global (previous)": square.network_vectors,
        "stripes side by side (5120)": stripes_side_by_side,
        "stripes mean (1280)": stripes_mean,
        "colour parts": colour_parts,
        "new: stripes sketch + colour": embedder.embed,
    }


def timed(embed: Embed, images: list[Image]) -> tuple[Vectors, float]:
    started = time.perf_counter()
    vectors = embed(images)
    return vectors, (time.perf_counter() - started) / max(len(images), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=int, default=20, help="near-duplicate window, frames")
    parser.add_argument("--sheets", type=Path, help="write per-track contact sheets here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    crops = vtest_crops()
    images = crops.images()
    persons = crops.label == "person"
    print(
        f"vtest.avi: {len(crops.jpegs)} crops of {len(np.unique(crops.track))} tracks "
        f"({persons.sum()} crops of {len(np.unique(crops.track[persons]))} person tracks); "
        f"dropped as mixed: {sorted(MIXED_TRACKS) or 'none'}; window {args.window} frames"
    )
    if args.sheets:
        write_sheets(crops, images, args.sheets)
        print(f"contact sheets in {args.sheets}")
    window = args.window
    header = (
        f"{'method':32} {'half':4} {'class':6} {'level':19} "
        f"{'R@1':>6} {'R@5':>6} {'mAP':>6} {'n':>5}"
    )
    print(header)
    print("-" * len(header))
    for name, embed in embedders().items():
        vectors, seconds = timed(embed, images)
        for half in ("fit", "eval"):
            for label in ("person", None):
                rows = selected_rows(crops, half, label)
                levels = {
                    "crop": crop_level(vectors, crops, rows, window),
                    "crop>track max": crop_to_track(vectors, crops, rows, window, "max"),
                    "crop>track mean": crop_to_track(vectors, crops, rows, window, "mean"),
                    "track": track_level(vectors, crops, rows, window),
                    **{
                        f"track>track {query}": segment_to_track(
                            vectors, crops, rows, window, query
                        )
                        for query in ("crop", "crop+qe", "mean", "max")
                    },
                }
                for level, s in levels.items():
                    print(
                        f"{name:32} {half:4} {label or 'all':6} {level:19} "
                        f"{s.recall1:6.3f} {s.recall5:6.3f} {s.mean_ap:6.3f} {s.queries:5d}"
                    )
        fit = selected_rows(crops, "fit", "person")
        thresholds = ", ".join(
            "{:.0%} from {:.3f} (recall {:.2f})".format(
                target, *precision_threshold(vectors, crops, fit, window, target)
            )
            for target in (0.9, 0.7, 0.5)
        )
        print(
            f"{name}: {seconds * 1000:.2f} ms/crop ({vectors.shape[1]}-d); person crop pairs "
            f"(fit half) are the same person {thresholds}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
