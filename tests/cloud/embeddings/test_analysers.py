"""The crop-analyser hook of the embed worker and the further vector collections."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pytest_django.fixtures import Settings

from cloud import backends
from cloud.detections.models import Detection
from cloud.embeddings import analysers
from cloud.embeddings.embedder import CropEmbedder, Image
from cloud.embeddings.services import embed_detections
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore, VectorStoreUnavailable


class Recorder:
    """Records what it was given and what the vector store held at that moment."""

    def __init__(self, vectors: VectorStore, fail: Exception | None = None) -> None:
        self.vectors = vectors
        self.fail = fail
        self.seen: list[tuple[str, tuple[int, ...], bool]] = []

    def analyse(self, crops: Sequence[tuple[Detection, Image]]) -> None:
        for row, image in crops:
            self.seen.append((row.id, image.shape, self.vectors.get(row.id) is not None))
        if self.fail is not None:
            raise self.fail


def test_analysers_see_every_decoded_crop_after_its_vector_is_stored(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    recorder = Recorder(vectors)
    embed_detections(
        detection_ids, embedder=embedder, objects=objects, vectors=vectors, analysers=[recorder]
    )
    assert sorted(seen[0] for seen in recorder.seen) == sorted(detection_ids)
    assert all(len(shape) == 3 and shape[2] == 3 and stored for _, shape, stored in recorder.seen)


def test_a_transient_analyser_failure_leaves_the_crops_to_embed_again(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    failing = Recorder(vectors, fail=VectorStoreUnavailable("face collection down"))
    with pytest.raises(VectorStoreUnavailable):
        embed_detections(
            detection_ids, embedder=embedder, objects=objects, vectors=vectors, analysers=[failing]
        )
    # Not marked embedded (the sweep and the retry run them again) and the run is not counted.
    rows = Detection.objects.filter(pk__in=detection_ids)
    assert not rows.filter(embedded_at__isnull=False).exists()
    assert set(rows.values_list("embed_attempts", flat=True)) == {0}


def test_unknown_analyser_names_in_the_settings_fail_clearly(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CROP_ANALYSERS = ["colours", "nope"]
    monkeypatch.setattr(analysers, "ANALYSERS", {"colours": "builtins:object"})
    with pytest.raises(ValueError, match=r"unknown crop analysers \['nope'\]"):
        analysers._build_enabled()


def test_a_further_collection_sits_beside_the_configured_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.VECTOR_STORE = {"type": "embedded", "path": ":memory:", "collection": "Crops"}
    monkeypatch.setattr(backends, "_collections", {})
    faces = backends.vector_collection("Face", 128)
    try:
        assert faces.dimension == 128
        assert backends.vector_collection("Face", 128) is faces
        with pytest.raises(ValueError, match="in use for 128-d vectors, not 64-d"):
            backends.vector_collection("Face", 64)
    finally:
        faces.close()
