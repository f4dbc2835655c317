from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cloud.embeddings.embedder import CropEmbedder, UnreadableCrop, decode_jpeg
from models.errors import ModelError
from models.manifest import load_manifest
from tests.cloud.ingest.footage import OBJECTS, crop_jpeg
from tests.models.built_models import require_model


def crops() -> list[np.ndarray]:
    return [decode_jpeg(crop_jpeg(item)) for item in OBJECTS]


def test_it_embeds_each_crop_into_a_unit_vector(embedder: CropEmbedder) -> None:
    vectors = embedder.embed(crops())
    assert vectors.shape == (len(OBJECTS), 1280)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batching_and_padding_do_not_change_a_vector(embedder: CropEmbedder) -> None:
    # 8 crops run as two full batches of 4; 3 crops as one padded batch; 1 crop alone.
    images = crops()
    together = embedder.embed(images)
    np.testing.assert_allclose(embedder.embed(images[:3]), together[:3], atol=1e-5)
    np.testing.assert_allclose(embedder.embed(images[5:6]), together[5:6], atol=1e-5)


def test_each_object_is_nearest_to_itself_three_frames_later(embedder: CropEmbedder) -> None:
    vectors = embedder.embed(crops())
    first, later = vectors[:4], vectors[4:]
    nearest = (later @ first.T).argmax(axis=1)
    assert [OBJECTS[i].name for i in nearest] == [item.name for item in OBJECTS[4:]]


def test_it_refuses_a_model_file_that_differs_from_the_manifest(tmp_path: Path) -> None:
    altered = tmp_path / "model.onnx"
    shutil.copyfile(require_model("mobilenetv2-reid"), altered)
    with altered.open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        CropEmbedder(altered, load_manifest("mobilenetv2-reid"))


def test_it_refuses_a_model_fed_another_way() -> None:
    manifest = load_manifest("nanodet-g")  # letterboxed BGR detector input
    with pytest.raises(ModelError, match="stretched"):
        CropEmbedder(Path("unused.onnx"), manifest)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0 truncated", b"GIF89a"])
def test_undecodable_bytes_are_an_unreadable_crop(data: bytes) -> None:
    with pytest.raises(UnreadableCrop):
        decode_jpeg(data)
