"""Colour by part and the crop vector's layout, on real vtest.avi crops (no model needed)."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from cloud.embeddings import colour_parts as parts
from cloud.embeddings import crop_vector
from cloud.embeddings.colour_parts import colour_parts
from cloud.embeddings.embedder import decode_jpeg
from cloud.embeddings.spec import CROP_EMBEDDING_DIMENSION
from tests.cloud.ingest.footage import OBJECTS, crop_jpeg

# BGR
RED, BLUE, WHITE, BLACK = (0, 0, 200), (200, 60, 0), (235, 235, 235), (15, 15, 15)


def crops() -> list[np.ndarray]:
    return [decode_jpeg(crop_jpeg(item)) for item in OBJECTS]


def dressed(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    """A 40 x 100 'person': `top` over the upper half, `bottom` over the lower, grey sides."""
    image = np.full((100, 40, 3), 128, np.uint8)
    image[:50, 8:32] = top
    image[50:, 8:32] = bottom
    return image


def test_colour_parts_are_unit_vectors_of_their_length() -> None:
    vectors = colour_parts(crops())
    assert vectors.shape == (len(OBJECTS), parts.DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert (vectors >= 0).all()


def test_where_a_colour_is_matters_not_only_which() -> None:
    red_over_blue, blue_over_red, same = colour_parts(
        [dressed(RED, BLUE), dressed(BLUE, RED), dressed(RED, BLUE)]
    )
    assert red_over_blue @ same > 0.999
    # The whole-crop histogram of the two is identical; by part they differ.
    assert red_over_blue @ blue_over_red < 0.7


def test_grey_levels_tell_a_white_shirt_from_a_black_one() -> None:
    white, black = colour_parts([dressed(WHITE, BLUE), dressed(BLACK, BLUE)])
    assert white @ black < 0.8


def test_the_crop_size_hardly_matters() -> None:
    person = crops()[0]
    height, width = person.shape[:2]
    bigger = cv2.resize(person, (width * 3, height * 3), interpolation=cv2.INTER_CUBIC)
    small, large = colour_parts([person, bigger])
    assert small @ large > 0.97


def test_each_person_is_nearest_to_themself_three_frames_later_by_colour() -> None:
    vectors = colour_parts(crops())
    first, later = vectors[:4], vectors[4:]
    nearest = (later @ first.T).argmax(axis=1)
    assert [OBJECTS[i].name for i in nearest] == [item.name for item in OBJECTS[4:]]


def test_the_sketch_is_fixed_and_one_signed_one_per_row() -> None:
    matrix = crop_vector.sketch_matrix()
    assert matrix.shape == (crop_vector.NETWORK_DIMENSION, crop_vector.SKETCH_DIMENSION)
    assert (np.abs(matrix).sum(axis=1) == 1).all()
    # Pinned: a different matrix would silently mix two kinds of vectors in one collection.
    assert (
        hashlib.sha256(matrix.tobytes()).hexdigest()
        == "636d8b4467f013b853b1f4121aaf52aaa1b3150763a16be65bc3ddd08206565a"
    )


def test_a_crop_vector_weighs_the_two_parts_cosines() -> None:
    rng = np.random.default_rng(7)
    shape = (2, crop_vector.STRIPES, crop_vector.NETWORK_DIMENSION)
    network = np.abs(rng.normal(size=shape)).astype(np.float32)
    network /= np.linalg.norm(network, axis=2, keepdims=True)
    colour = colour_parts([dressed(RED, BLUE), dressed(WHITE, BLUE)])
    vectors = crop_vector.compose(network, colour)
    assert vectors.shape == (2, crop_vector.DIMENSION) == (2, CROP_EMBEDDING_DIMENSION)
    # The stripes count alike: their mean is sketched.
    sketched = network.mean(axis=1) @ crop_vector.sketch_matrix()
    sketched /= np.linalg.norm(sketched, axis=1, keepdims=True)
    expected = (
        crop_vector.NETWORK_WEIGHT**2 * sketched[0] @ sketched[1]
        + crop_vector.COLOUR_WEIGHT**2 * colour[0] @ colour[1]
    )
    assert float(vectors[0] @ vectors[1]) == pytest.approx(expected, abs=1e-5)
