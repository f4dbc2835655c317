from __future__ import annotations

import pytest

from cloud.celery import app


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        ("cloud.embeddings.tasks.embed_detections", "embed"),
        # The queue every deployment's workers consume (README: `celery -A cloud worker -Q embed`).
        ("cloud.datasets.tasks.build_export", "embed"),
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


def test_the_broker_redelivers_a_task_of_a_dead_worker_soon_after_its_time_limit() -> None:
    # With late acks, Redis redelivers a task whose worker died only after the visibility
    # timeout: an hour by default, while no task may run longer than the hard time limit.
    options = app.conf.broker_transport_options
    visibility_timeout = options["visibility_timeout"]
    assert app.conf.task_time_limit < visibility_timeout <= app.conf.task_time_limit + 60
    # Workers look for such tasks every interval x throttle seconds: kombu's defaults make
    # that 100 s, a third of the timeout again.
    assert options["unacked_restore_interval"] * options["unacked_restore_throttle"] <= 10


def test_retries_wait_less_than_the_visibility_timeout() -> None:
    # A retry waits in its worker's memory, unacked: if it waited longer than the visibility
    # timeout, Redis would hand a copy to another worker.
    from cloud.embeddings.tasks import embed_detections

    visibility_timeout = app.conf.broker_transport_options["visibility_timeout"]
    assert embed_detections.retry_backoff_max < visibility_timeout


def test_beat_runs_the_sweeps_and_monitoring_passes_on_the_embed_workers() -> None:
    schedule = app.conf.beat_schedule
    tasks = {entry["task"]: entry for entry in schedule.values()}
    assert set(tasks) == {
        "cloud.embeddings.tasks.sweep_unembedded",
        "cloud.detections.tasks.sweep_orphan_crops",
        "cloud.monitoring.tasks.evaluate_alerts",
        "cloud.monitoring.tasks.roll_up_samples",
        "cloud.rollouts.tasks.advance_rollouts",
    }
    for name, entry in tasks.items():
        assert app.amqp.router.route({}, name)["queue"].name == "embed"
        # A sweep that waited a whole interval in a busy queue is dropped: the next one comes.
        assert entry["options"]["expires"] == entry["schedule"]
