"""Celery tasks of the `embed` queue (routed there by `CELERY_TASK_ROUTES` in settings)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from celery import shared_task
from celery.app.task import Task
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import worker_process_init, worker_ready
from django.utils import timezone

from cloud import backends
from cloud.embeddings import services
from cloud.embeddings.analysers import enabled_analysers
from cloud.embeddings.recovery import detections_to_sweep, recovery_settings

logger = logging.getLogger(__name__)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def warm_up() -> None:
    """Load the crop model and analysers and connect the stores now, in the task process.

    Otherwise the first crops after a worker start wait for all of it (about a second on two
    cores), which counts straight into frame-to-searchable latency.
    """
    started = time.perf_counter()
    services.crop_embedder()
    enabled_analysers()
    backends.object_store()
    backends.vector_store()
    logger.info("embedder and stores ready in %.2f s", time.perf_counter() - started)


@worker_process_init.connect
def _warm_prefork_child(**_kwargs: Any) -> None:
    warm_up()


@worker_ready.connect
def _warm_in_process_pool(sender: Any, **_kwargs: Any) -> None:
    # The solo and threads pools run tasks in the worker process itself; prefork children warm
    # up on their own (above), never before the fork: ONNX Runtime's threads do not survive it.
    if not issubclass(sender.controller.pool_cls, PreforkPool):
        warm_up()


# Only failures that a later attempt can fix; anything else fails the task at once.
TRANSIENT_ERRORS = services.TRANSIENT_ERRORS
# A retry waits in its worker's memory, unacknowledged; a wait longer than the broker's
# visibility timeout (settings) would have Redis hand a copy to another worker meanwhile.
# Longer outages are the sweep's business.
RETRY_BACKOFF_MAX_S = 60


def retried_when_transient(function: Callable[_P, _R]) -> Task[_P, _R]:
    """`shared_task` for an idempotent task over the stores: late acks, and retries of
    `TRANSIENT_ERRORS` only, with backoff and jitter (the labels' refresh is one too)."""
    task: Task[_P, _R] = shared_task(
        acks_late=True,
        autoretry_for=TRANSIENT_ERRORS,
        retry_backoff=True,
        retry_backoff_max=RETRY_BACKOFF_MAX_S,
        retry_jitter=True,
        max_retries=12,
        ignore_result=True,
    )(function)
    return task


@retried_when_transient
def embed_detections(detection_ids: list[str]) -> int:
    """Embed these detections' crops (see `services.embed_detections`); return how many.

    Idempotent, so a redelivery after a worker crash (late acks), a retry or a sweep's copy
    only overwrites, or finds the work done and skips it.
    """
    return len(services.embed_detections(detection_ids).embedded)


@shared_task(ignore_result=True)
def sweep_unembedded() -> int:
    """Queue embedding again for crops stored a while ago that still have no vector.

    Ingest sends the STORED ack after the row's commit and queues the embed task after that,
    so a crash in between, a broker that lost the task, a worker killed while its task waited
    for Redis's redelivery, or a task whose retries ran out leaves a row without a vector.
    Celery beat runs this every ``EMBED_RECOVERY["sweep_interval_s"]``; it queues the rows
    stored more than ``sweep_grace_s`` ago that are neither embedded nor marked failed (at
    most ``sweep_max_per_run``, oldest first, ``sweep_batch_size`` per task). So a stored crop
    whose task was lost is queued again within grace period + beat interval (three minutes by
    default) after it was stored, plus the queue's delay. Returns how many rows it queued.

    Queuing a row that was only slow costs one skipped row in the embed task
    (`services.embed_detections` skips embedded rows); a crop that keeps failing is marked
    failed after ``max_attempts`` runs and no longer queued.
    """
    recovery = recovery_settings()
    ids = detections_to_sweep(timezone.now(), recovery)
    size = recovery.sweep_batch_size
    for start in range(0, len(ids), size):
        embed_detections.delay(ids[start : start + size])
    if ids:
        logger.warning(
            "queued embedding again for %d crops stored over %d s ago without a vector (oldest %s)",
            len(ids),
            recovery.sweep_grace_s,
            ids[0],
        )
    return len(ids)
