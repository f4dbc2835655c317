"""The `embed` task: a thin, idempotent wrapper that retries only transient failures."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError

from cloud.celery import app
from cloud.embeddings.services import EmbedReport
from cloud.embeddings.tasks import embed_detections
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import InvalidRequest, VectorStoreUnavailable

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
