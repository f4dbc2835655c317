"""Retraining as marks change: one training per burst, on the embed queue; the backfill task."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from cloud.access.models import Role
from cloud.celery import app
from cloud.labels.marks import apply_marks
from cloud.labels.models import Label, Value
from cloud.labels.signals import marks_changed
from cloud.learned import tasks
from cloud.learned.models import Backfill, LearnedLabel
from tests.cloud.learned.conftest import LIKE, Crops, near
from tests.users import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued() -> Iterator[mock.MagicMock]:
    with mock.patch.object(tasks.train_label, "apply_async") as apply_async:
        yield apply_async


def test_the_tasks_run_on_the_embed_queue() -> None:
    for task in (tasks.train_label, tasks.backfill_classifier):
        assert app.amqp.router.route({}, task.name)["queue"].name == "embed"


def test_a_burst_of_mark_changes_queues_one_training(queued: mock.MagicMock) -> None:
    label = Label.objects.create(name="delivery van")
    for _ in range(5):
        marks_changed.send(sender=None, label_id=label.pk)
    queued.assert_called_once_with((label.pk,), countdown=tasks.TRAIN_DELAY_S)
    assert LearnedLabel.objects.get(pk=label.pk).queued_at is not None


def test_marks_changed_while_it_trains_queue_the_next_training(
    crops: Crops, queued: mock.MagicMock, django_capture_on_commit_callbacks: Any
) -> None:
    crops.marked_set()
    marks_changed.send(sender=None, label_id=crops.label.pk)
    with (
        mock.patch.object(tasks.backfill_classifier, "delay") as backfill,
        django_capture_on_commit_callbacks(execute=True),
    ):
        status = tasks.train_label(crops.label.pk)
    assert status.startswith("version 1 trained")
    backfill.assert_called_once()
    marks_changed.send(sender=None, label_id=crops.label.pk)
    assert queued.call_count == 2


def test_marking_through_the_mark_service_queues_a_training(
    crops: Crops, queued: mock.MagicMock, django_capture_on_commit_callbacks: Any
) -> None:
    row = crops.add(near(LIKE, 1))
    with django_capture_on_commit_callbacks(execute=True):
        apply_marks(crops.label, {row.id: Value.POSITIVE}, make_user("lab", Role.LABELER))
    queued.assert_called_once_with((crops.label.pk,), countdown=tasks.TRAIN_DELAY_S)


def test_a_queued_training_that_never_started_is_queued_again(queued: mock.MagicMock) -> None:
    label = Label.objects.create(name="delivery van")
    lost = timezone.now() - timedelta(seconds=tasks.QUEUED_STALE_S + 1)
    LearnedLabel.objects.create(label=label, queued_at=lost)
    assert tasks.queue_training(label.pk) is True
    assert tasks.queue_training(label.pk) is False
    assert queued.call_count == 1


def test_a_deleted_label_queues_and_trains_nothing(queued: mock.MagicMock) -> None:
    assert tasks.queue_training(999) is False
    assert tasks.train_label(999) == "label deleted"
    queued.assert_not_called()


def test_a_backfill_task_queues_its_continuation_until_done(
    crops: Crops, monkeypatch: pytest.MonkeyPatch
) -> None:
    crops.marked_set()
    with mock.patch.object(tasks.backfill_classifier, "delay"):
        tasks.train_label(crops.label.pk)
    classifier_id = Backfill.objects.get().pk
    monkeypatch.setattr(tasks, "BACKFILL_SLICE_S", 0)
    monkeypatch.setattr("cloud.learned.services.PAGE", 8)
    with mock.patch.object(tasks.backfill_classifier, "delay") as again:
        assert tasks.backfill_classifier(classifier_id) is False
        again.assert_called_once_with(classifier_id)
        assert tasks.backfill_classifier(classifier_id) is True
    assert Backfill.objects.get().done == 12
