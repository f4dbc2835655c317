"""The `embed` task: a thin, idempotent wrapper that retries only transient failures."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone
from pytest_django.fixtures import Settings

from cloud.celery import app
from cloud.detections.models import Detection
from cloud.embeddings.services import EmbedReport
from cloud.embeddings.tasks import embed_detections, sweep_unembedded
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import InvalidRequest, VectorStore, VectorStoreUnavailable

IDS = ["01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b", "01935f1e-7d00-7a11-8c22-0d3e4f5a6b7c"]


def test_it_runs_on_the_embed_queue_with_late_acks() -> None:
    assert app.amqp.router.route({}, embed_detections.name)["queue"].name == "embed"
    assert embed_detections.acks_late is True


def test_it_returns_how_many_crops_it_embedded() -> None:
    with mock.patch("cloud.embeddings.tasks.services.embed_detections") as run:
        run.return_value = EmbedReport(embedded=IDS[:1], missing=IDS[1:])
        assert embed_detections(IDS) == 1
    run.assert_called_once_with(IDS)


@pytest.mark.parametrize(
    "error",
    [
        ObjectStoreUnavailable("timeout"),
        VectorStoreUnavailable("connection refused"),
        OperationalError("server closed the connection"),
    ],
)
def test_transient_failures_are_retried(error: Exception) -> None:
    # `apply` runs the task and its retries in this process (no broker, no global eager mode).
    outcomes = [error, EmbedReport(embedded=IDS)]
    with mock.patch(
        "cloud.embeddings.tasks.services.embed_detections", side_effect=outcomes
    ) as run:
        result = embed_detections.apply(args=(IDS,))
    assert (result.state, result.result) == ("SUCCESS", 2)
    assert run.call_count == 2


def test_other_failures_fail_the_task_at_once() -> None:
    failure = InvalidRequest("vector holds NaN")
    with mock.patch("cloud.embeddings.tasks.services.embed_detections", side_effect=failure) as run:
        result = embed_detections.apply(args=(IDS,))
    assert result.state == "FAILURE"
    assert run.call_count == 1


def stored(ids: list[str], age: timedelta, **fields: object) -> None:
    Detection.objects.filter(pk__in=ids).update(received_at=timezone.now() - age, **fields)


def test_the_sweep_queues_again_the_crops_left_without_a_vector(
    detection_ids: list[str], settings: Settings
) -> None:
    settings.EMBED_RECOVERY = {
        **settings.EMBED_RECOVERY,
        "sweep_grace_s": 120,
        "sweep_batch_size": 2,
    }
    lost, recent, done, failed = (
        detection_ids[:3],
        detection_ids[3:5],
        detection_ids[5:7],
        detection_ids[7:],
    )
    stored(lost, timedelta(minutes=5))
    stored(recent, timedelta(seconds=30))
    stored(done, timedelta(minutes=5), embedded_at=timezone.now())
    stored(failed, timedelta(minutes=5), embed_error="crop unreadable: not a JPEG")
    with mock.patch.object(embed_detections, "delay") as delay:
        assert sweep_unembedded() == 3
    queued = [call.args[0] for call in delay.call_args_list]
    assert [len(batch) for batch in queued] == [2, 1]
    assert sorted(i for batch in queued for i in batch) == sorted(lost)


def test_the_sweep_queues_at_most_its_limit_per_run_oldest_first(
    detection_ids: list[str], settings: Settings
) -> None:
    settings.EMBED_RECOVERY = {**settings.EMBED_RECOVERY, "sweep_max_per_run": 3}
    for age, detection_id in enumerate(detection_ids):
        stored([detection_id], timedelta(hours=1, minutes=age))
    with mock.patch.object(embed_detections, "delay") as delay:
        assert sweep_unembedded() == 3
    (queued,) = [call.args[0] for call in delay.call_args_list]
    assert queued == detection_ids[::-1][:3]


def test_a_swept_crop_is_embedded_by_the_worker_like_any_other(
    detection_ids: list[str], configured: VectorStore
) -> None:
    # What the sweep is for: the ingest queued nothing (it crashed after the STORED ack).
    stored(detection_ids, timedelta(minutes=10))
    with mock.patch.object(
        embed_detections, "delay", side_effect=lambda ids: embed_detections.apply(args=(ids,))
    ):
        sweep_unembedded()
    assert not Detection.objects.filter(embedded_at__isnull=True).exists()
    assert configured.count() == len(detection_ids)


@pytest.mark.parametrize(("pool", "warms"), [("solo", True), ("threads", True), ("prefork", False)])
def test_a_worker_that_runs_tasks_itself_warms_up_when_ready(pool: str, warms: bool) -> None:
    from celery.concurrency import get_implementation

    from cloud.embeddings import tasks

    consumer = mock.Mock()
    consumer.controller.pool_cls = get_implementation(pool)
    with mock.patch.object(tasks, "warm_up") as warm_up:
        tasks._warm_in_process_pool(consumer)
    assert warm_up.called is warms


def test_warming_up_loads_the_model_and_connects_both_stores() -> None:
    from cloud.embeddings import tasks

    with (
        mock.patch.object(tasks.services, "crop_embedder") as embedder,
        mock.patch.object(tasks.backends, "object_store") as objects,
        mock.patch.object(tasks.backends, "vector_store") as vectors,
    ):
        tasks.warm_up()
    assert embedder.called and objects.called and vectors.called
