"""Crops of every track of vtest.avi, cut as the edge cuts them, for the retrieval benchmark.

The real edge pieces run over the whole clip: NanoDet-g on ONNX Runtime (`create_detector`, the
agent's `Preprocessor` and `to_detections`) at the example config's 5 frames per second, and
ByteTrack. Every `crop_every`-th matched update of a track is cut with the edge's padding
(`edge.crops.image.pixel_rect` and `cut`) and JPEG-encoded at the edge's quality, so each track
has many views, not only the few best ones the edge would send.

The result is cached as one `.npz` under `$SIGHTLINE_CACHE_DIR/bench/retrieval/`, keyed by the
detector's sha256 and these settings, so later runs skip the detector.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.crops.image import cut, encode_jpeg, pixel_rect
from edge.crops.selector import CropSettings
from edge.detectors.base import Detector, ModelSettings
from edge.detectors.ort import OrtSettings
from edge.detectors.preprocess import Preprocessor
from edge.detectors.registry import create_detector
from edge.tracking.base import TrackState
from edge.tracking.bytetrack import ByteTrackSettings, ByteTrackTracker
from models.detection import to_detections
from tests.footage.clips import VTEST, source

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SOURCE_FPS = 10.0


@dataclass(frozen=True)
class CropSet:
    """Crops of one clip: row i is one view of track `track[i]` at source frame `frame[i]`."""

    jpegs: list[bytes]
    track: npt.NDArray[np.int64]
    label: npt.NDArray[np.str_]
    frame: npt.NDArray[np.int64]
    box: npt.NDArray[np.float32]
    """x1, y1, x2, y2 of the detection box (unpadded), frame pixels."""

    def images(self) -> list[npt.NDArray[np.uint8]]:
        """The crops decoded (BGR), as the embed worker decodes them."""
        return [
            np.asarray(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), np.uint8)
            for data in self.jpegs
        ]


def _cache_file(detector_sha256: str, every: int, crop_every: int) -> Path:
    root = Path(os.environ.get("SIGHTLINE_CACHE_DIR") or Path.home() / ".cache" / "sightline")
    key = json.dumps(
        {
            "detector": detector_sha256,
            "every": every,
            "crop_every": crop_every,
            "tracker": ByteTrackSettings().model_dump(),
            "crops": CropSettings().model_dump(),
            "version": 1,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return root / "bench" / "retrieval" / f"vtest-{digest}.npz"


def vtest_crops(*, every: int = 2, crop_every: int = 2, threads: int = 1) -> CropSet:
    """The crops of vtest.avi, from the cache or made now (about a minute on one core).

    `every`: run the detector on every n-th source frame (2 = the example config's 5 fps);
    `crop_every`: cut every n-th matched update of a track.
    """
    settings = OrtSettings(
        model=ModelSettings(manifest=REPO / "models" / "nanodet-g.toml"),
        intra_op_threads=threads,
    )
    detector = create_detector(settings)
    path = _cache_file(detector.spec.sha256, every, crop_every)
    if path.is_file():
        detector.close()
        with np.load(path) as data:
            blob, offsets = data["jpeg"], data["offsets"]
            return CropSet(
                jpegs=[blob[a:b].tobytes() for a, b in pairwise(offsets)],
                track=data["track"],
                label=data["label"],
                frame=data["frame"],
                box=data["box"],
            )
    logger.info("cutting crops from %s (cached in %s)", VTEST, path)
    crops = _extract(detector, every, crop_every)
    detector.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.cumsum([0, *(len(j) for j in crops.jpegs)])
    partial = path.with_suffix(".partial.npz")
    np.savez(
        partial,
        jpeg=np.frombuffer(b"".join(crops.jpegs), np.uint8),
        offsets=offsets,
        track=crops.track,
        label=crops.label,
        frame=crops.frame,
        box=crops.box,
    )
    partial.replace(path)
    return crops


def _extract(detector: Detector, every: int, crop_every: int) -> CropSet:
    spec = detector.spec
    preprocess = Preprocessor(spec)
    tracker = ByteTrackTracker(ByteTrackSettings(), camera_id="vtest")
    padding, quality = CropSettings().padding, CropSettings().jpeg_quality
    matched: dict[int, int] = {}
    jpegs: list[bytes] = []
    rows: list[tuple[int, str, int, tuple[float, float, float, float]]] = []
    capture = cv2.VideoCapture(str(source(VTEST)))
    index = processed = 0
    try:
        while True:
            ok, decoded = capture.read()
            if not ok:
                break
            if index % every == 0:
                frame = np.asarray(decoded, dtype=np.uint8)
                tensor, transform = preprocess(frame)
                raw = detector.detect(tensor)
                detections = to_detections(raw, transform, spec.labels)
                updates = tracker.update(detections, processed, index / SOURCE_FPS)
                height, width = frame.shape[:2]
                for update in updates:
                    if update.state not in (TrackState.NEW, TrackState.UPDATED):
                        continue
                    count = matched.get(update.track_number, 0)
                    matched[update.track_number] = count + 1
                    if count % crop_every:
                        continue
                    rect = pixel_rect(update.box, width, height, padding)
                    if rect.x2 - rect.x1 < 8 or rect.y2 - rect.y1 < 8:
                        continue
                    jpegs.append(encode_jpeg(cut(frame, rect), quality))
                    box = update.box
                    rows.append(
                        (update.track_number, update.label, index, (box.x1, box.y1, box.x2, box.y2))
                    )
                processed += 1
            index += 1
    finally:
        capture.release()
    logger.info(
        "%d frames, %d processed, %d crops of %d tracks", index, processed, len(rows), len(matched)
    )
    return CropSet(
        jpegs=jpegs,
        track=np.array([r[0] for r in rows], np.int64),
        label=np.array([r[1] for r in rows], np.str_),
        frame=np.array([r[2] for r in rows], np.int64),
        box=np.array([r[3] for r in rows], np.float32).reshape(-1, 4),
    )
