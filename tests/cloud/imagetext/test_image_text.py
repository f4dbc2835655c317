"""The image-text plug-in end to end on a tiny random model of CLIP's interface (tiny_clip):
tokenizer, both encoders, normalisation, the analyser on real vtest.avi crops, the embedded
vector store, the query under the page's filters, and the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from cloud import backends
from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.embedder import decode_jpeg
from cloud.fleet.models import Device
from cloud.imagetext.analyser import ImageTextAnalyser, image_text_collection
from cloud.imagetext.config import ImageTextSettings, PinnedFile
from cloud.imagetext.model import ImageTextModel
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore
from cloud.search import image_text
from cloud.search.criteria import SearchCriteria
from cloud.search.image_text import search_image_text
from cloud.search.vocabulary import TextQueryError
from models.errors import ModelError
from tests.cloud.attributes.vtest_people import ALL, detection
from tests.cloud.imagetext.tiny_clip import DIMENSION, SIZE, TinyClip, build_tiny_clip
from tests.cloud.test_settings import load_settings
from tests.users import make_user

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


@pytest.fixture
def tiny(tmp_path: Path) -> TinyClip:
    return build_tiny_clip(tmp_path)


@pytest.fixture
def model(tiny: TinyClip) -> ImageTextModel:
    return ImageTextModel(tiny.settings)


@pytest.fixture
def collection(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, model: ImageTextModel
) -> Iterator[VectorStore]:
    """The image-text collection beside an embedded in-memory crop collection."""
    settings.VECTOR_STORE = {"type": "embedded", "path": ":memory:", "collection": "Crops"}
    monkeypatch.setattr(backends, "_collections", {})
    store = image_text_collection(model)
    yield store
    store.close()


@pytest.fixture
def analysed(
    provisioned_device: Device,
    objects: ObjectStore,
    make_detection: Callable[..., NewDetection],
    model: ImageTextModel,
    collection: VectorStore,
) -> dict[str, npt.NDArray[np.uint8]]:
    """The vtest.avi crops ingested and run through the analyser; decoded crop by id."""
    for item in ALL:
        record_detection(detection(item, make_detection), objects)
    crops = {row.id: decode_jpeg(objects.get(row.object_key)) for row in Detection.objects.all()}
    rows = Detection.objects.in_bulk(list(crops))
    ImageTextAnalyser(model, collection).analyse([(rows[i], crops[i]) for i in crops])
    return crops


def unit(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def expected_image_vector(tiny: TinyClip, crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    rgb = cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)[..., ::-1]
    pixels = ((rgb / 255.0 - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1).astype(np.float32)
    return unit(pixels.reshape(-1) @ tiny.image_weights)


def expected_text_vector(tiny: TinyClip, text: str) -> npt.NDArray[np.float32]:
    ids = tiny.tokenizer.encode(text).ids  # [CLS] words [SEP], no padding: the mask drops it
    return unit(tiny.token_embeddings[ids].sum(axis=0))


def test_crops_are_fed_in_the_configured_size_colour_order_and_scale(
    model: ImageTextModel,
) -> None:
    bgr = np.zeros((40, 20, 3), dtype=np.uint8)
    bgr[:] = (10, 120, 250)

    (pixels,) = model.preprocess([bgr])

    assert pixels.shape == (3, SIZE, SIZE)
    rgb = np.array([250, 120, 10]) / 255.0
    np.testing.assert_allclose(pixels[:, 0, 0], (rgb - CLIP_MEAN) / CLIP_STD, rtol=1e-5)


def test_texts_go_through_the_tokenizer_and_the_encoder_to_unit_vectors(
    tiny: TinyClip, model: ImageTextModel
) -> None:
    texts = ["man in a red jacket", "WHITE van", "unknown words only"]
    vectors = model.embed_texts(texts)
    assert vectors.shape == (3, DIMENSION)
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_allclose(vector, expected_text_vector(tiny, text), atol=1e-5)


def test_a_text_query_ranks_the_analysed_crops_through_the_vector_store(
    tiny: TinyClip,
    model: ImageTextModel,
    collection: VectorStore,
    analysed: dict[str, npt.NDArray[np.uint8]],
    objects: ObjectStore,
) -> None:
    query = "man in a red jacket"
    text = expected_text_vector(tiny, query)
    scores = {i: float(expected_image_vector(tiny, crop) @ text) for i, crop in analysed.items()}

    hits = search_image_text(
        query, SearchCriteria(), k=5, model=model, vectors=collection, objects=objects
    )

    assert collection.count() == len(ALL)
    assert [hit.detection.id for hit in hits] == sorted(scores, key=scores.__getitem__)[::-1][:5]
    for hit in hits:
        assert hit.similarity == pytest.approx(scores[hit.detection.id], abs=1e-4)


def test_image_text_results_keep_the_pages_filters(
    model: ImageTextModel,
    collection: VectorStore,
    analysed: dict[str, npt.NDArray[np.uint8]],
    objects: ObjectStore,
) -> None:
    cars = search_image_text(
        "white van",
        SearchCriteria(labels=("car",)),
        k=10,
        model=model,
        vectors=collection,
        objects=objects,
    )
    assert {hit.detection.label for hit in cars} == {"car"} and len(cars) == 2
    nowhere = SearchCriteria(camera_ids=frozenset())
    assert (
        search_image_text("van", nowhere, k=10, model=model, vectors=collection, objects=objects)
        == []
    )
    with pytest.raises(TextQueryError, match="Type what to look for"):
        search_image_text(
            "  ", SearchCriteria(), k=10, model=model, vectors=collection, objects=objects
        )


def test_a_file_that_differs_from_its_pinned_sha256_is_refused(tiny: TinyClip) -> None:
    changed = tiny.settings.model_copy(
        update={"text_encoder": PinnedFile(path=tiny.settings.text_encoder.path, sha256="0" * 64)}
    )
    with pytest.raises(ModelError, match="differs from the pinned"):
        ImageTextModel(changed)
    with pytest.raises(ModelError, match="not the configured"):
        ImageTextModel(tiny.settings.model_copy(update={"dimension": DIMENSION + 1}))


def test_the_text_page_lists_the_image_text_results_when_configured(
    client: Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tiny: TinyClip,
    model: ImageTextModel,
    collection: VectorStore,
    objects: ObjectStore,
    analysed: dict[str, npt.NDArray[np.uint8]],
) -> None:
    settings.IMAGE_TEXT = tiny.settings.model_dump(mode="json")
    monkeypatch.setattr(image_text, "image_text_model", lambda: model)
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    client.force_login(make_user("viewer"))

    # Nothing here is in the vocabulary, but the image-text model still searches it.
    response = client.get("/text/", {"q": "zxqv"})

    assert response.status_code == 200
    assert "Nothing in" in response.text
    assert len(response.context["image_cards"]) == len(ALL)


def test_the_plug_in_is_configured_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny: TinyClip
) -> None:
    base = {"DEBUG": "true", "DATA_DIR": str(tmp_path)}
    assert load_settings(monkeypatch, **base)["IMAGE_TEXT"] is None
    pinned = tiny.settings
    env = {
        **base,
        "IMAGE_TEXT_DIMENSION": str(DIMENSION),
        "IMAGE_TEXT_WIDTH": str(SIZE),
        "IMAGE_TEXT_HEIGHT": str(SIZE),
        "IMAGE_TEXT_MAX_TOKENS": "12",
        "IMAGE_TEXT_COLOUR_ORDER": "BGR",
        "IMAGE_TEXT_MEAN": "0.5,0.5,0.5",
    }
    for name in ("image_encoder", "text_encoder", "tokenizer"):
        file: PinnedFile = getattr(pinned, name)
        env[f"IMAGE_TEXT_{name.upper()}"] = str(file.path)
        env[f"IMAGE_TEXT_{name.upper()}_SHA256"] = file.sha256

    configured = ImageTextSettings.model_validate(load_settings(monkeypatch, **env)["IMAGE_TEXT"])

    assert configured == pinned.model_copy(update={"colour_order": "BGR", "mean": (0.5,) * 3})
