"""`embed_detections` over real vtest.avi crops, stored as ingest stores them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from unittest import mock

import cv2
import pytest
from django.core.management import call_command
from django.test import Client
from pytest_django.fixtures import Settings

from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.embedder import CropEmbedder, Image, Vectors
from cloud.embeddings.services import EmbedReport, detection_ids_to_embed, embed_detections
from cloud.fleet.models import Device
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore, VectorStoreUnavailable
from tests.cloud.ingest.footage import OBJECTS
from tests.cloud.lib.jpeg_samples import declaring


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


def test_running_it_again_skips_what_is_embedded_or_overwrites_on_request(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=vectors)
    first = {i: vectors.get(i) for i in detection_ids}
    # A redelivered task (late acks) or a sweep finds the work done and does nothing.
    again = embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=vectors)
    assert (again.embedded, sorted(again.skipped)) == ([], sorted(detection_ids))
    report = embed_detections(
        detection_ids, redo=True, embedder=embedder, objects=objects, vectors=vectors
    )
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
    lost = Detection.objects.get(pk=detection_ids[0])
    assert lost.embedded_at is None
    # Marked failed for good: no sweep or `reembed --missing` tries it again.
    assert lost.embed_error.startswith("crop unreadable: no object under key")


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
    detection_ids: list[str], configured: VectorStore, capsys: pytest.CaptureFixture[str]
) -> None:
    vectors = configured
    embed_detections(detection_ids[:5])
    call_command("reembed", "--missing", "--chunk-size", "2")
    assert "embedded 3 detections" in capsys.readouterr().out
    call_command("reembed", "--all")
    assert "embedded 8 detections" in capsys.readouterr().out
    assert vectors.count() == len(OBJECTS)


class WorkerKilled(BaseException):
    """Stands in for the OOM killer or a segfault: nothing after it runs, not even cleanup."""


class PoisonedEmbedder:
    """The real embedder, except that a batch holding the poison crop kills the worker."""

    def __init__(self, embedder: CropEmbedder, poison_shape: tuple[int, ...]) -> None:
        self.max_crop_pixels = embedder.max_crop_pixels
        self._embedder = embedder
        self._poison_shape = poison_shape
        self.kills = 0

    def embed(self, images: Sequence[Image]) -> Vectors:
        if any(image.shape == self._poison_shape for image in images):
            self.kills += 1
            raise WorkerKilled
        return self._embedder.embed(images)


def redeliver_until_done(ids: list[str], embed: Callable[[], EmbedReport]) -> int:
    """Run `embed` the way the broker redelivers a task whose worker died; return the runs."""
    for runs in range(1, 20):
        with contextlib.suppress(WorkerKilled):
            embed()
            return runs
    raise AssertionError(f"{ids} still not done after 20 deliveries")


def test_a_crop_declaring_a_huge_image_fails_for_good_without_being_decoded(
    provisioned_device: Device,
    make_detection: Callable[..., NewDetection],
    embedder: CropEmbedder,
    objects: ObjectStore,
    vectors: VectorStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bomb = make_detection(jpeg=declaring(60000, 60000))
    record_detection(bomb, objects)
    monkeypatch.setattr(cv2, "imdecode", mock.Mock(side_effect=AssertionError("decoded")))
    report = embed_detections([bomb.id], embedder=embedder, objects=objects, vectors=vectors)
    assert report.unreadable == [bomb.id]
    row = Detection.objects.get(pk=bomb.id)
    assert "declares 60000 x 60000 pixels" in row.embed_error
    assert (row.embedded_at, row.embed_attempts) == (None, 1)
    again = embed_detections([bomb.id], embedder=embedder, objects=objects, vectors=vectors)
    assert again.skipped == [bomb.id]
    assert list(detection_ids_to_embed(missing_only=True, chunk_size=10)) == []


def test_runs_are_counted_before_the_work_so_a_killed_worker_counts(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    poisoned = PoisonedEmbedder(embedder, (84, 52, 3))  # the woman in frame 0
    with pytest.raises(WorkerKilled):
        embed_detections(detection_ids, embedder=poisoned, objects=objects, vectors=vectors)
    attempts = Detection.objects.filter(pk__in=detection_ids).values_list(
        "embed_attempts", flat=True
    )
    assert set(attempts) == {1}


def test_a_crop_that_keeps_killing_its_worker_is_given_up_and_spares_the_others(
    detection_ids: list[str],
    embedder: CropEmbedder,
    objects: ObjectStore,
    vectors: VectorStore,
    settings: Settings,
) -> None:
    settings.EMBED_RECOVERY = {**settings.EMBED_RECOVERY, "max_attempts": 3}
    poisoned = PoisonedEmbedder(embedder, (84, 52, 3))
    woman = detection_ids[2]
    runs = redeliver_until_done(
        detection_ids,
        lambda: embed_detections(
            detection_ids, embedder=poisoned, objects=objects, vectors=vectors
        ),
    )
    # One run of the whole batch, then the poison alone until its third run.
    assert (poisoned.kills, runs) == (3, 4)
    row = Detection.objects.get(pk=woman)
    assert row.embed_error == "gave up after 3 embed runs that did not finish"
    assert (row.embedded_at, row.embed_attempts) == (None, 3)
    others = Detection.objects.exclude(pk=woman)
    assert not others.filter(embedded_at__isnull=True).exists()
    assert max(others.values_list("embed_attempts", flat=True)) == 2
    assert vectors.count() == len(detection_ids) - 1


def test_transient_failures_are_not_counted_as_runs(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    down = mock.Mock(wraps=vectors)
    down.upsert.side_effect = VectorStoreUnavailable("connection refused")
    for _ in range(5):
        with pytest.raises(VectorStoreUnavailable):
            embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=down)
    attempts = Detection.objects.filter(pk__in=detection_ids).values_list(
        "embed_attempts", flat=True
    )
    assert set(attempts) == {0}
    report = embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=vectors)
    assert sorted(report.embedded) == sorted(detection_ids)


def test_the_reembed_command_reports_the_crops_given_up(
    detection_ids: list[str],
    objects: ObjectStore,
    configured: VectorStore,
    capsys: pytest.CaptureFixture[str],
) -> None:
    objects.delete(Detection.objects.get(pk=detection_ids[0]).object_key)
    call_command("reembed", "--missing")
    out = capsys.readouterr().out
    assert "embedded 7 detections (1 unreadable crops" in out
    assert "1 detection is marked failed" in out
    call_command("reembed", "--all")
    assert "embedded 7 detections (0 unreadable crops" in capsys.readouterr().out
    Detection.objects.filter(pk=detection_ids[1]).update(
        embedded_at=None, embed_attempts=3, embed_error="gave up after 3 embed runs"
    )
    call_command("reembed", "--failed")
    out = capsys.readouterr().out
    assert "embedded 1 detections (1 unreadable crops" in out
    assert Detection.objects.get(pk=detection_ids[1]).embedded_at is not None


def test_the_admin_lists_the_detections_marked_failed(
    detection_ids: list[str], admin_client: Client
) -> None:
    Detection.objects.filter(pk=detection_ids[3]).update(
        embed_attempts=3, embed_error="gave up after 3 embed runs that did not finish"
    )
    response = admin_client.get("/admin/detections/detection/", {"embedding": "failed"})
    assert response.status_code == 200
    assert [row.id for row in response.context["cl"].result_list] == [detection_ids[3]]
    assert b"gave up after 3 embed runs" in response.content


def test_redoing_embedded_crops_runs_them_as_a_batch_whatever_their_run_count(
    detection_ids: list[str], embedder: CropEmbedder, objects: ObjectStore, vectors: VectorStore
) -> None:
    # `reembed --all` after a model change: every row ran before, and succeeded.
    embed_detections(detection_ids, embedder=embedder, objects=objects, vectors=vectors)
    Detection.objects.update(embed_attempts=5)
    spy = mock.Mock(wraps=embedder, max_crop_pixels=embedder.max_crop_pixels)
    report = embed_detections(
        detection_ids, redo=True, embedder=spy, objects=objects, vectors=vectors
    )
    assert (sorted(report.embedded), report.given_up) == (sorted(detection_ids), [])
    assert spy.embed.call_count == 1
