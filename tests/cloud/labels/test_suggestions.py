"""Similarity suggestions over existing crops (the refresh task) and new ones (the embed
worker's consumer), on the embedded vector store with fixed vectors."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt
import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from cloud import backends
from cloud.celery import app
from cloud.detections.models import Detection
from cloud.embeddings.analysers import vector_consumers
from cloud.labels import suggestions, tasks
from cloud.labels.marks import apply_marks
from cloud.labels.models import Label, Mark, Score, Value
from cloud.labels.suggestions import refresh_suggestions, score_new_crops
from cloud.lib.vectorstore import VectorItem
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore
from tests.cloud.labels.suggestion_data import (
    POSITIVE,
    at,
    mark,
    similarity_scores,
    turned,
)
from tests.cloud.search.data import SearchData


def unit_rows(*vectors: tuple[float, ...]) -> npt.NDArray[np.float32]:
    rows = np.asarray(vectors, dtype=np.float32)
    normalised: npt.NDArray[np.float32] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return normalised


# Existing crops ---------------------------------------------------------------------------------


def test_a_refresh_suggests_unmarked_crops_near_the_positives_with_their_confidence(
    search_data: SearchData, label: Label
) -> None:
    positive = search_data.add(POSITIVE)
    near = search_data.add(at(0.95))
    nearer = search_data.add(at(0.98, flip=True))
    far = search_data.add(at(0.85))
    mark(label, positive, Value.POSITIVE)
    report = refresh_suggestions(label.pk)
    assert similarity_scores(label) == {near.id: 0.5, nearer.id: 0.8}
    assert far.id not in similarity_scores(label)
    assert (report.positives, report.candidates, report.suggested) == (1, 2, 2)
    # Again: the same rows, overwritten, never doubled.
    refresh_suggestions(label.pk)
    assert Score.objects.filter(label=label).count() == 2


def test_a_negative_stops_its_near_duplicates_and_a_refresh_deletes_what_no_longer_holds(
    search_data: SearchData, label: Label
) -> None:
    positive = search_data.add(POSITIVE)
    # Both 0.95 from the positive, on either side: one is a near-copy of the crop rejected.
    near_copy = search_data.add(turned(18.19))
    other_side = search_data.add(turned(-18.19))
    rejected = search_data.add(turned(18.0))
    mark(label, positive, Value.POSITIVE)
    refresh_suggestions(label.pk)
    assert set(similarity_scores(label)) == {near_copy.id, other_side.id, rejected.id}
    mark(label, rejected, Value.NEGATIVE)
    report = refresh_suggestions(label.pk)
    # The rejected crop is marked now, its near-copy is never suggested again; the crop on
    # the other side of the positive is.
    assert set(similarity_scores(label)) == {other_side.id}
    assert report.removed == 2


def test_a_label_without_positives_suggests_nothing(search_data: SearchData, label: Label) -> None:
    negative = search_data.add(POSITIVE)
    search_data.add(at(0.99))
    mark(label, negative, Value.NEGATIVE)
    assert refresh_suggestions(label.pk).suggested == 0
    assert refresh_suggestions(label.pk + 1000).suggested == 0  # no such label
    assert not Score.objects.exists()


def test_neighbours_are_fetched_in_growing_pages_up_to_a_bound(
    search_data: SearchData, label: Label, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suggestions, "FIRST_FETCH", 2)
    monkeypatch.setattr(suggestions, "MAX_NEIGHBOURS", 8)
    positive = search_data.add(POSITIVE)
    crops = [search_data.add(at(0.999 - i * 0.005)) for i in range(12)]  # all above 0.9
    mark(label, positive, Value.POSITIVE)
    queries: list[int] = []
    query = search_data.vectors.query

    def counted(vector: Any, k: int = 10, filters: Any = None) -> Any:
        queries.append(k)
        return query(vector, k, filters)

    monkeypatch.setattr(search_data.vectors, "query", counted)
    refresh_suggestions(label.pk)
    assert queries == [2, 8]
    assert set(similarity_scores(label)) == {crop.id for crop in crops[:8]}


def test_a_refresh_whose_marks_changed_meanwhile_writes_nothing(
    search_data: SearchData, label: Label, monkeypatch: pytest.MonkeyPatch
) -> None:
    positive = search_data.add(POSITIVE)
    search_data.add(at(0.95))
    other = search_data.add(at(0.5))
    mark(label, positive, Value.POSITIVE)
    query = search_data.vectors.query

    def concurrent_batch(vector: Any, k: int = 10, filters: Any = None) -> Any:
        mark(label, other, Value.NEGATIVE)  # a user marks while the refresh reads
        return query(vector, k, filters)

    monkeypatch.setattr(search_data.vectors, "query", concurrent_batch)
    assert refresh_suggestions(label.pk).superseded
    assert not Score.objects.exists()


def test_the_scores_of_crops_deleted_from_the_database_are_not_written(
    search_data: SearchData, label: Label
) -> None:
    positive = search_data.add(POSITIVE)
    gone = search_data.add(at(0.95))
    mark(label, positive, Value.POSITIVE)
    Detection.objects.filter(pk=gone.id).delete()  # its vector is still in the store
    assert refresh_suggestions(label.pk).suggested == 0


# The task and its receiver -----------------------------------------------------------------------


def test_the_refresh_runs_on_the_embed_queue() -> None:
    route = app.amqp.router.route({}, tasks.refresh_label_suggestions.name)
    assert route["queue"].name == "embed"


def test_a_burst_of_batches_refreshes_once_after_the_last(
    search_data: SearchData,
    label: Label,
    labeler: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    crops = [search_data.add(at(cosine)) for cosine in (1.0, 0.99, 0.98, 0.95)]
    queued: list[tuple[Any, ...]] = []
    with mock.patch.object(
        tasks.refresh_label_suggestions,
        "apply_async",
        side_effect=lambda args, countdown: queued.append(args),
    ):
        for crop in crops[:3]:
            with django_capture_on_commit_callbacks(execute=True):
                apply_marks(label, {crop.id: Value.POSITIVE}, labeler)
    assert len(queued) == 3
    with mock.patch.object(
        suggestions, "refresh_suggestions", wraps=suggestions.refresh_suggestions
    ) as refresh:
        results = [tasks.refresh_label_suggestions.apply(args=args).result for args in queued]
    assert refresh.call_count == 1
    assert results == [0, 0, 1]
    assert set(similarity_scores(label)) == {crops[3].id}


def test_a_batch_queues_the_refresh_with_a_delay(
    label: Label,
    labeler: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
    search_data: SearchData,
) -> None:
    crop = search_data.add(POSITIVE)
    with (
        mock.patch.object(tasks.refresh_label_suggestions, "apply_async") as queue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        apply_marks(label, {crop.id: Value.POSITIVE}, labeler)
    queue.assert_called_once_with(
        (label.pk, suggestions.latest_mark_event(label.pk)), countdown=tasks.REFRESH_DELAY_S
    )


def test_a_broker_outage_does_not_fail_the_marks(
    search_data: SearchData,
    label: Label,
    labeler: User,
    django_capture_on_commit_callbacks: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    crop = search_data.add(POSITIVE)
    with (
        mock.patch.object(
            tasks.refresh_label_suggestions,
            "apply_async",
            side_effect=BrokerError("connection refused"),
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        apply_marks(label, {crop.id: Value.POSITIVE}, labeler)
    assert Mark.objects.get(detection=crop).value == Value.POSITIVE
    assert "could not queue the suggestions refresh" in caplog.text


# New crops ----------------------------------------------------------------------------------------


def new_crops(search_data: SearchData, *vectors: tuple[float, ...]) -> list[Detection]:
    return [search_data.add(vector) for vector in vectors]


def test_new_crops_are_scored_against_every_label_with_positives(
    search_data: SearchData, label: Label
) -> None:
    assert score_new_crops in vector_consumers()
    other = Label.objects.create(name="Van")
    unused = Label.objects.create(name="Bicycle")  # no marks: nothing to do
    mark(label, search_data.add(POSITIVE), Value.POSITIVE)
    mark(other, search_data.add((0.0, 0.0, 1.0, 0.0)), Value.POSITIVE)
    crops = new_crops(search_data, at(0.95), (0.0, 0.0, 0.98, 0.199), (0.0, 1.0, 0.0, 0.0))
    vectors = unit_rows(at(0.95), (0.0, 0.0, 0.98, 0.199), (0.0, 1.0, 0.0, 0.0))
    score_new_crops(crops, vectors)
    assert similarity_scores(label) == {crops[0].id: 0.5}
    assert similarity_scores(other) == {crops[1].id: 0.8}
    assert not Score.objects.filter(label=unused).exists()
    score_new_crops(crops, vectors)  # a retried batch
    assert Score.objects.count() == 2


def test_a_new_crop_near_a_negative_or_marked_is_not_scored(
    search_data: SearchData, label: Label
) -> None:
    mark(label, search_data.add(POSITIVE), Value.POSITIVE)
    rejected = search_data.add(turned(18.0))
    mark(label, rejected, Value.NEGATIVE)
    accepted = search_data.add(at(0.97))
    mark(label, accepted, Value.POSITIVE)
    near_copy = search_data.add(turned(18.19))
    score_new_crops([near_copy, accepted], unit_rows(turned(18.19), at(0.97)))
    assert similarity_scores(label) == {}


class CountingStore:
    """The embedded store, counting the vectors read."""

    def __init__(self, store: EmbeddedVectorStore) -> None:
        self.store = store
        self.reads = 0

    def get_many(self, detection_ids: Sequence[str]) -> list[VectorItem]:
        self.reads += len(detection_ids)
        return self.store.get_many(detection_ids)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_marks_vectors_are_read_once_per_worker_until_the_marks_change(
    search_data: SearchData, label: Label, monkeypatch: pytest.MonkeyPatch
) -> None:
    suggestions.mark_cache.keep_only(())
    counting = CountingStore(search_data.vectors)
    monkeypatch.setattr(backends, "vector_store", lambda: counting)
    mark(label, search_data.add(POSITIVE), Value.POSITIVE)
    first, second = new_crops(search_data, turned(18.0), turned(18.19))
    score_new_crops([first], unit_rows(turned(18.0)))
    score_new_crops([second], unit_rows(turned(18.19)))
    assert counting.reads == 1  # the one positive, once
    assert set(similarity_scores(label)) == {first.id, second.id}
    mark(label, first, Value.NEGATIVE)  # a new MarkEvent: read again
    score_new_crops([second], unit_rows(turned(18.19)))
    assert counting.reads == 3
    assert similarity_scores(label) == {first.id: pytest.approx(0.51, abs=0.01)}


def test_a_refresh_keeps_what_new_crops_got_after_it_started(
    search_data: SearchData, label: Label
) -> None:
    positive = search_data.add(POSITIVE)
    mark(label, positive, Value.POSITIVE)
    late = search_data.add(at(0.96))
    # The consumer wrote this crop's score after the refresh started; the refresh's delete
    # must leave it, although it did not find the crop itself.
    Score.objects.create(
        label=label,
        detection=late,
        track_id=late.track_id,
        source=Score.Source.SIMILARITY,
        confidence=0.6,
        updated_at=timezone.now() + timedelta(seconds=5),
    )
    search_data.vectors.delete([late.id])
    refresh_suggestions(label.pk)
    assert similarity_scores(label) == {late.id: 0.6}
