"""Real samples for parity and calibration: vtest.avi frames and person crops, fed exactly as the
edge detector and the cloud crop embedder feed them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detectors.model import ModelSpec
from edge.detectors.preprocess import Preprocessor
from export.samples import (
    VTEST,
    SamplesError,
    frame_count,
    input_tensor,
    load_samples,
    read_frames,
    spread,
    stack_inputs,
)
from models.manifest import InputSpec

DETECTOR = InputSpec(
    name="input_1:0", shape=(1, 3, 416, 416), dtype="float32", layout="NCHW", color="BGR",
    mean=(103.53, 116.28, 123.675), std=(57.375, 57.12, 58.395), resize="letterbox",
)  # fmt: skip
EMBEDDER = InputSpec(
    name="images", shape=("batch", 3, 256, 128), dtype="float32", layout="NCHW", color="RGB",
    mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375), resize="stretch",
)  # fmt: skip


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return read_frames(VTEST, [0, 100, 101])


def test_frames_are_read_at_the_indices_asked(frames: list[np.ndarray]) -> None:
    assert frame_count(VTEST) == 795
    assert [f.shape for f in frames] == [(576, 768, 3)] * 3
    assert not np.array_equal(frames[1], frames[2])
    np.testing.assert_array_equal(read_frames(VTEST, [101])[0], frames[2])


@pytest.mark.parametrize("indices", [[5, 3], [1, 1], [-1]])
def test_frame_indices_must_be_ascending_and_distinct(indices: list[int]) -> None:
    with pytest.raises(SamplesError, match="ascending and distinct"):
        read_frames(VTEST, indices)


def test_frames_past_the_end_or_an_unreadable_video_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SamplesError, match="ends at frame 795"):
        read_frames(VTEST, [800])
    with pytest.raises(SamplesError, match="cannot be opened"):
        read_frames(tmp_path / "missing.avi", [0])


def test_spread_gives_distinct_indices_inside_the_range() -> None:
    assert spread(4, 10, 18) == [10, 12, 14, 16]
    assert spread(3, 0, 3) == [0, 1, 2]
    with pytest.raises(SamplesError, match="4 frames do not fit"):
        spread(4, 0, 3)


def test_a_frame_is_fed_to_a_detector_as_the_edge_feeds_it(frames: list[np.ndarray]) -> None:
    spec = ModelSpec(
        name="d", version="1", path=Path("d.onnx"), sha256="0" * 64, input_name="input_1:0",
        input_size=(416, 416), color="BGR", mean=DETECTOR.mean or (0, 0, 0),
        std=DETECTOR.std or (1, 1, 1), labels=("person",),
    )  # fmt: skip
    edge_tensor, _ = Preprocessor(spec)(frames[0])

    np.testing.assert_allclose(input_tensor(frames[0], DETECTOR), edge_tensor[0], atol=1e-5)


def test_a_crop_is_fed_to_an_embedder_as_the_cloud_feeds_it(frames: list[np.ndarray]) -> None:
    crop = frames[1][100:300, 200:290]
    # cloud.embeddings.embedder.CropEmbedder.preprocess, step by step.
    resized = cv2.cvtColor(cv2.resize(crop, (128, 256), interpolation=cv2.INTER_LINEAR),
                           cv2.COLOR_BGR2RGB)  # fmt: skip
    expected = ((resized.astype(np.float32) - EMBEDDER.mean) / EMBEDDER.std).transpose(2, 0, 1)

    np.testing.assert_allclose(input_tensor(crop, EMBEDDER), expected, atol=1e-5)
    assert stack_inputs([crop, crop], EMBEDDER).shape == (2, 3, 256, 128)


def test_inputs_the_runtimes_cannot_make_are_refused(frames: list[np.ndarray]) -> None:
    nhwc = EMBEDDER.model_copy(update={"layout": "NHWC"})
    dynamic = EMBEDDER.model_copy(update={"shape": ("batch", 3, "height", 128)})

    for spec in (nhwc, dynamic):
        with pytest.raises(SamplesError):
            input_tensor(frames[0], spec)


def test_person_crops_come_from_the_range_asked_and_are_upright() -> None:
    samples = load_samples(VTEST, frames=2, crops=6, first=300, stop=340)

    assert len(samples.frames) == 2 and len(samples.crops) == 6
    assert len(samples.images) == 8
    assert all(crop.shape[0] > crop.shape[1] for crop in samples.crops)


def test_too_few_people_in_the_range_is_an_error() -> None:
    with pytest.raises(SamplesError, match="person crops, 500 needed"):
        load_samples(VTEST, frames=0, crops=500, first=0, stop=4)
    with pytest.raises(SamplesError, match="ask for some"):
        load_samples(VTEST, frames=0, crops=0, first=0, stop=4)
