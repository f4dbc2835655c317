from __future__ import annotations

import pytest

from cloud.celery import app


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("cloud.embeddings.tasks.embed_detections", "embed"),
        ("cloud.fleet.tasks.expire_devices", "default"),
    ],
)
def test_it_routes_tasks_to_their_workload_queue(task: str, queue: str) -> None:
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_it_accepts_only_json_and_acknowledges_after_the_task_ran() -> None:
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_soft_time_limit < app.conf.task_time_limit
