"""`embed_detections` over real vtest.avi crops, stored as ingest stores them."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from cloud import backends
from cloud.detections.models import Detection
from cloud.embeddings import services
from cloud.embeddings.embedder import CropEmbedder
from cloud.embeddings.services import detection_ids_to_embed, embed_detections
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore
from tests.cloud.ingest.footage import OBJECTS


def test_it_embeds_every_crop_and_marks_the_rows(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    report = embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=vectors)
    assert sorted(report.embedded) == sorted(detection_ids)
    assert report.missing == report.unreadable == []
    assert vectors.count() == len(OBJECTS)
    assert not Detection.objects.filter(embedded_at__isnull=True).exists()
    row = Detection.objects.get(pk=detection_ids[0])
    item = vectors.get(row.id)
    assert item is not None
    assert item.properties.device_id == "gate-01"
    assert item.properties.camera_id == str(row.camera_id)
    assert item.properties.track_id == row.track_id
    assert (item.properties.label, item.properties.ts) == ("person", row.ts)


def test_running_it_again_overwrites_instead_of_adding(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=vectors)
    first = {i: vectors.get(i) for i in detection_ids}
    report = embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=vectors)
    assert len(report.embedded) == len(detection_ids)
    assert vectors.count() == len(OBJECTS)
    assert {i: vectors.get(i) for i in detection_ids} == first


def test_similar_search_finds_the_same_person_in_a_later_frame(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=vectors)
    woman_then, woman_later = detection_ids[2], detection_ids[6]
    query = vectors.get(woman_later)
    assert query is not None
    hits = vectors.query(query.vector, k=2)
    assert [hit.detection_id for hit in hits] == [woman_later, woman_then]


def test_it_reports_deleted_rows_and_lost_crops_without_failing(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    lost = Detection.objects.get(pk=detection_ids[0])
    objects.delete(lost.object_key)
    gone = "01935f1e-0000-7000-8000-000000000000"
    report = embed_detections(
        [*detection_ids[:2], gone], embedder=embedder, objects=objects, vectors=vectors
    )
    assert (report.embedded, report.unreadable, report.missing) == (
        [detection_ids[1]],
        [detection_ids[0]],
        [gone],
    )
    assert vectors.get(detection_ids[0]) is None
    assert Detection.objects.get(pk=detection_ids[0]).embedded_at is None


def test_it_lists_ids_in_chunks_all_or_only_the_unembedded(detection_ids: list[str]) -> None:
    Detection.objects.filter(pk__in=detection_ids[:3]).update(
        embedded_at=Detection.objects.get(pk=detection_ids[0]).ts
    )
    everything = list(detection_ids_to_embed(missing_only=False, chunk_size=3))
    assert [len(chunk) for chunk in everything] == [3, 3, 2]
    assert sorted(i for chunk in everything for i in chunk) == sorted(detection_ids)
    missing = [
        i for chunk in detection_ids_to_embed(missing_only=True, chunk_size=3) for i in chunk
    ]
    assert sorted(missing) == sorted(detection_ids[3:])


def test_the_reembed_command_embeds_the_missing_ones(
    detection_ids: list[str],
    embedder: CropEmbedder,
    objects: ObjectStore,
    vectors: VectorStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(services, "crop_embedder", lambda: embedder)
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    monkeypatch.setattr(backends, "vector_store", lambda: vectors)
    embed_detections(detection_ids[:5])
    call_command("reembed", "--missing", "--chunk-size", "2")
    assert "embedded 3 detections" in capsys.readouterr().out
    call_command("reembed", "--all")
    assert "embedded 8 detections" in capsys.readouterr().out
    assert vectors.count() == len(OBJECTS)
