"""The buffer-reusing preprocessor gives the same tensor as the reference helpers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edge.detectors.fake import fake_model_spec
from edge.detectors.model import ModelSpec
from edge.detectors.preprocess import Preprocessor
from models.detection import letterbox, to_nchw

MEAN = (103.53, 116.28, 123.675)
STD = (57.375, 57.12, 58.395)


def spec(color: str = "BGR", size: tuple[int, int] = (416, 416)) -> ModelSpec:
    model = fake_model_spec(labels=("person",), input_size=size)
    return replace(model, color=color, mean=MEAN, std=STD)  # type: ignore[arg-type]


def frame(seed: int, shape: tuple[int, int] = (576, 768)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def test_it_matches_letterbox_then_to_nchw() -> None:
    preprocess = Preprocessor(spec())
    image = frame(1)
    tensor, transform = preprocess(image)
    canvas, expected_transform = letterbox(image, (416, 416))
    assert transform == expected_transform
    np.testing.assert_allclose(tensor, to_nchw(canvas, MEAN, STD), atol=1e-5)


def test_rgb_models_get_swapped_channels() -> None:
    image = frame(2)
    tensor, _ = Preprocessor(spec("RGB"))(image)
    canvas, _ = letterbox(image, (416, 416))
    np.testing.assert_allclose(tensor, to_nchw(canvas, MEAN, STD, swap_rb=True), atol=1e-5)


def test_non_square_inputs_follow_width_then_height() -> None:
    tensor, transform = Preprocessor(spec(size=(320, 192)))(frame(3, (480, 640)))
    assert tensor.shape == (1, 3, 192, 320)
    assert (transform.scale, transform.pad_x, transform.pad_y) == (0.4, 32, 0)


def test_the_tensor_buffer_is_reused_between_frames() -> None:
    preprocess = Preprocessor(spec())
    first, _ = preprocess(frame(4))
    first_copy = first.copy()
    second, _ = preprocess(frame(5))
    assert second is first
    assert not np.array_equal(second, first_copy)
