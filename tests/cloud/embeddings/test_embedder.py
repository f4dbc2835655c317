from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from cloud.embeddings import crop_vector
from cloud.embeddings.colour_parts import colour_parts
from cloud.embeddings.embedder import CropEmbedder, UnreadableCrop, decode_jpeg
from cloud.embeddings.spec import CROP_EMBEDDING_DIMENSION, CROP_MODEL_NAME
from models.errors import ModelError
from models.manifest import load_manifest
from tests.cloud.ingest.footage import OBJECTS, crop_jpeg
from tests.cloud.lib.jpeg_samples import declaring, encode
from tests.models.built_models import require_model


def crops() -> list[np.ndarray]:
    return [decode_jpeg(crop_jpeg(item)) for item in OBJECTS]


def test_it_embeds_each_crop_into_a_unit_vector(embedder: CropEmbedder) -> None:
    vectors = embedder.embed(crops())
    assert vectors.shape == (len(OBJECTS), CROP_EMBEDDING_DIMENSION)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_crop_vector_joins_the_network_and_colour_by_part(embedder: CropEmbedder) -> None:
    images = crops()
    network = embedder.network_vectors(images)
    assert network.shape == (len(OBJECTS), crop_vector.STRIPES, crop_vector.NETWORK_DIMENSION)
    np.testing.assert_allclose(np.linalg.norm(network, axis=2), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        embedder.embed(images), crop_vector.compose(network, colour_parts(images)), atol=1e-6
    )


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
    shutil.copyfile(require_model(CROP_MODEL_NAME), altered)
    with altered.open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        CropEmbedder(altered, load_manifest(CROP_MODEL_NAME))


def test_it_refuses_a_model_whose_output_the_crop_vector_is_not_laid_out_for() -> None:
    # The previous crop model: one global 1280-d vector per crop, not four stripes.
    with pytest.raises(ModelError, match=r"\(1280,\) values per crop"):
        CropEmbedder(require_model("mobilenetv2-reid"), load_manifest("mobilenetv2-reid"))


def test_it_refuses_a_model_fed_another_way() -> None:
    manifest = load_manifest("nanodet-g")  # letterboxed BGR detector input
    with pytest.raises(ModelError, match="stretched"):
        CropEmbedder(Path("unused.onnx"), manifest)


@pytest.mark.parametrize("data", [b"", b"\xff\xd8\xff\xe0 truncated", b"GIF89a"])
def test_undecodable_bytes_are_an_unreadable_crop(data: bytes) -> None:
    with pytest.raises(UnreadableCrop):
        decode_jpeg(data)


@pytest.mark.parametrize(("width", "height"), [(60000, 60000), (20000, 20000), (4097, 4096)])
def test_a_crop_declaring_a_huge_image_is_refused_without_decoding_it(
    width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 20000 x 20000 is below OpenCV's own limit (2^30 pixels) and would allocate 1.2 GB.
    decoded: list[object] = []
    monkeypatch.setattr(cv2, "imdecode", lambda *args: decoded.append(args))
    with pytest.raises(UnreadableCrop, match=f"declares {width} x {height} pixels"):
        decode_jpeg(declaring(width, height), max_pixels=4096 * 4096)
    assert decoded == []


def test_a_crop_within_the_bound_decodes() -> None:
    image = decode_jpeg(encode(64, 48), max_pixels=64 * 48)
    assert image.shape == (48, 64, 3)


def test_an_image_in_another_format_is_refused_without_decoding_it() -> None:
    # OpenCV decodes PNG, BMP, TIFF, WebP... whose headers the size check does not read.
    ok, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    assert ok
    with pytest.raises(UnreadableCrop, match="not a JPEG"):
        decode_jpeg(bytes(png))


def test_a_lone_crop_runs_alone_instead_of_in_a_padded_batch(
    embedder: CropEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Padding one crop to a full batch made a lone crop cost a whole batch (32 crops: about
    # 30 times longer on this CPU); runs are padded only to the next power of two.
    run = embedder._run
    sizes: list[int] = []

    def recording(batch: np.ndarray) -> np.ndarray:
        sizes.append(len(batch))
        return run(batch)

    monkeypatch.setattr(embedder, "_run", recording)
    images = crops()  # 8 crops; the fixture's batch size is 4
    alone = embedder.embed(images[:1])
    three = embedder.embed(images[:3])
    seven = embedder.embed(images[:7])
    assert sizes == [1, 4, 4, 4]
    together = embedder.embed(images)
    np.testing.assert_allclose(alone, together[:1], atol=1e-5)
    np.testing.assert_allclose(three, together[:3], atol=1e-5)
    np.testing.assert_allclose(seven, together[:7], atol=1e-5)
