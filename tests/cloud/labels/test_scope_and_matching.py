"""Who may mark which crops, and which crops search counts as having a label."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from cloud.access.models import Role
from cloud.detections.models import Detection, Track
from cloud.errors import NotFound
from cloud.fleet.models import CameraGroup
from cloud.labels.marks import apply_marks
from cloud.labels.matching import (
    LEARNED_MIN_CONFIDENCE,
    labelled_crops,
    labelled_tracks,
    labels_of_tracks,
)
from cloud.labels.models import Label, Score, Value
from cloud.labels.scope import require_labeler, visible_batch, visible_crops
from tests.users import make_user

pytestmark = pytest.mark.django_db


def test_only_labelers_and_above_may_mark(db: None) -> None:
    with pytest.raises(PermissionDenied, match="labeler role"):
        require_labeler(make_user("vera", Role.VIEWER))
    for role in (Role.LABELER, Role.OPERATOR, Role.ADMIN):
        require_labeler(make_user(role.value, role))


def test_a_crop_outside_the_users_cameras_is_not_found(
    crops: dict[str, Detection], entrances: CameraGroup, labeler: User
) -> None:
    door = make_user("door", Role.LABELER, all_sites=False, groups=[entrances])
    a, y = crops["a"].id, crops["y"].id
    assert set(visible_crops(door, [a, a])) == {a}
    for hidden in ([a, y], ["not-an-id"], ["0193a000-0000-7000-8000-000000000000"]):
        with pytest.raises(NotFound, match=f"no detection {hidden[-1]!r}"):
            visible_crops(door, hidden)
    assert set(visible_crops(labeler, [a, y])) == {a, y}


def test_a_batch_touching_another_scope_is_not_found(
    crops: dict[str, Detection], entrances: CameraGroup, label: Label, labeler: User
) -> None:
    door = make_user("door", Role.LABELER, all_sites=False, groups=[entrances])
    lobby = apply_marks(label, {crops["a"].id: Value.POSITIVE}, labeler)
    both = apply_marks(
        label, {crops["b"].id: Value.POSITIVE, crops["y"].id: Value.NEGATIVE}, labeler
    )
    visible_batch(door, lobby, label_id=label.pk)
    for batch, label_id in ((both, label.pk), (lobby, label.pk + 1), (uuid.uuid4(), None)):
        with pytest.raises(NotFound, match="no batch"):
            visible_batch(door, batch, label_id=label_id)


def test_search_counts_positives_and_confident_learned_scores_not_negated(
    crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    other = Label.objects.create(name="staff")
    apply_marks(label, {crops["a"].id: Value.POSITIVE, crops["c"].id: Value.NEGATIVE}, labeler)
    now = timezone.now()

    def score(name: str, confidence: float, source: str = Score.Source.CLASSIFIER) -> None:
        Score.objects.create(
            label=label,
            detection=crops[name],
            track_id=crops[name].track_id,
            source=source,
            confidence=confidence,
            updated_at=now,
        )

    score("b", LEARNED_MIN_CONFIDENCE)  # learned: counts
    score("c", 0.99)  # learned, but the user said no
    score("y", 0.99, Score.Source.SIMILARITY)  # a suggestion, not a label
    assert set(labelled_crops([label.pk]).values_list("pk", flat=True)) == {
        crops["a"].id,
        crops["b"].id,
    }
    Score.objects.filter(detection=crops["b"]).update(confidence=LEARNED_MIN_CONFIDENCE - 0.01)
    tracks = Track.objects.filter(labelled_tracks([label.pk, other.pk]))
    assert list(tracks.values_list("pk", flat=True)) == [crops["a"].track_id]
    assert not labelled_crops([other.pk]).exists()
    apply_marks(other, {crops["a"].id: Value.POSITIVE, crops["b"].id: Value.POSITIVE}, labeler)
    assert labels_of_tracks([crops[name].track_id for name in "abcy"]) == {
        crops["a"].track_id: ["Delivery van", "staff"],
        crops["b"].track_id: ["staff"],
    }
