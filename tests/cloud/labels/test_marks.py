"""Marking crops: batches of changes, their history, undo, and the signal after each commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from django.contrib.auth.models import User

from cloud.detections.models import Detection
from cloud.errors import InvalidInput, NotFound
from cloud.labels.marks import MAX_BATCH, UndoRefused, apply_marks, undo
from cloud.labels.models import Label, Mark, MarkEvent, Value
from cloud.labels.signals import marks_changed
from tests.users import make_user

pytestmark = pytest.mark.django_db
P, N = Value.POSITIVE, Value.NEGATIVE
Commits = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]


@pytest.fixture
def sent() -> Iterator[list[int]]:
    """The label ids `marks_changed` was sent with, in order."""
    ids: list[int] = []

    def receive(sender: object, label_id: int, **_: object) -> None:
        ids.append(label_id)

    marks_changed.connect(receive)
    yield ids
    marks_changed.disconnect(receive)


def marks(label: Label) -> dict[str, str]:
    return dict(Mark.objects.filter(label=label).values_list("detection_id", "value"))


def history(batch: uuid.UUID) -> list[tuple[str, str, str]]:
    events = MarkEvent.objects.filter(batch=batch).order_by("detection_id")
    return [(event.detection_id, event.before, event.after) for event in events]


def test_it_marks_crops_as_one_batch_with_who_and_when(
    crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    a, b = crops["a"].id, crops["b"].id
    batch = apply_marks(label, {a: P, b: N}, labeler)
    assert marks(label) == {a: "positive", b: "negative"}
    assert history(batch) == [(a, "", "positive"), (b, "", "negative")]
    event = MarkEvent.objects.filter(batch=batch).first()
    assert event is not None and event.by == labeler and event.undoes is None
    assert Mark.objects.get(label=label, detection_id=a).by == labeler


def test_unchanged_crops_add_no_event_and_none_clears(
    crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    a, b, c = crops["a"].id, crops["b"].id, crops["c"].id
    apply_marks(label, {a: P, b: N}, labeler)
    batch = apply_marks(label, {a: P, b: None, c: None}, labeler)
    assert history(batch) == [(b, "negative", "")]
    assert marks(label) == {a: "positive"}
    nothing = apply_marks(label, {a: P}, labeler)
    assert history(nothing) == []


def test_the_signal_follows_the_commit_of_a_batch_that_changed_something(
    crops: dict[str, Detection],
    label: Label,
    labeler: User,
    sent: list[int],
    django_capture_on_commit_callbacks: Commits,
) -> None:
    a = crops["a"].id
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        apply_marks(label, {a: P}, labeler)
    assert sent == []  # not before the commit
    for callback in callbacks:
        callback()
    assert sent == [label.pk]
    with django_capture_on_commit_callbacks(execute=True):
        apply_marks(label, {a: P}, labeler)
    assert sent == [label.pk]  # nothing changed, nothing sent


def test_undo_restores_each_crop_as_a_new_batch(
    crops: dict[str, Detection],
    label: Label,
    labeler: User,
    sent: list[int],
    django_capture_on_commit_callbacks: Commits,
) -> None:
    a, b = crops["a"].id, crops["b"].id
    apply_marks(label, {a: N}, labeler)
    batch = apply_marks(label, {a: P, b: P}, labeler)
    other = make_user("olga")
    with django_capture_on_commit_callbacks(execute=True):
        undone = undo(batch, other)
    assert marks(label) == {a: "negative"}
    assert history(undone) == [(a, "positive", "negative"), (b, "positive", "")]
    assert set(MarkEvent.objects.filter(batch=undone).values_list("undoes", "by")) == {
        (batch, other.pk)
    }
    assert sent == [label.pk]
    # Undoing the undo puts the marks back (a redo).
    undo(undone, labeler)
    assert marks(label) == {a: "positive", b: "positive"}


def test_undoing_twice_is_refused(crops: dict[str, Detection], label: Label, labeler: User) -> None:
    batch = apply_marks(label, {crops["a"].id: P}, labeler)
    undo(batch, labeler)
    with pytest.raises(UndoRefused, match="undone already"):
        undo(batch, labeler)
    assert marks(label) == {}


def test_undo_is_refused_when_a_crop_was_marked_again_since(
    crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    a, b = crops["a"].id, crops["b"].id
    first = apply_marks(label, {a: P, b: P}, labeler)
    apply_marks(label, {b: N}, labeler)
    with pytest.raises(UndoRefused, match=f"1 of its crops were marked again since .first {b}"):
        undo(first, labeler)
    assert marks(label) == {a: "positive", b: "negative"}
    assert MarkEvent.objects.filter(undoes=first).count() == 0


def test_a_batch_that_changed_nothing_or_never_was_cannot_be_undone(
    crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    with pytest.raises(NotFound):
        undo(uuid.uuid4(), labeler)
    nothing = apply_marks(label, {}, labeler)
    with pytest.raises(NotFound):
        undo(nothing, labeler)


def test_bad_input_is_refused_and_writes_nothing(
    crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    a = crops["a"].id
    with pytest.raises(NotFound, match="no detection"):
        apply_marks(label, {a: P, "0193a000-0000-7000-8000-000000000000": P}, labeler)
    with pytest.raises(InvalidInput, match="not a mark"):
        apply_marks(label, {a: "maybe"}, labeler)  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match=f"at most {MAX_BATCH}"):
        apply_marks(label, {str(uuid.UUID(int=n)): P for n in range(MAX_BATCH + 1)}, labeler)
    deleted = Label.objects.create(name="gone")
    Label.objects.filter(pk=deleted.pk).delete()
    with pytest.raises(NotFound, match="no label"):
        apply_marks(deleted, {a: P}, labeler)
    assert not Mark.objects.exists() and not MarkEvent.objects.exists()
