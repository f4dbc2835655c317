"""Training a label's classifier on its marks, and backfilling its scores."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from cloud.labels.models import Mark, Score, Value
from cloud.learned import scoring, services
from cloud.learned.models import Backfill, Classifier, LearnedLabel
from tests.cloud.learned.conftest import LIKE, UNLIKE, Crops, near

pytestmark = pytest.mark.django_db


def classifier_scores(crops: Crops) -> dict[str, tuple[int, float]]:
    rows = Score.objects.filter(label=crops.label, source=Score.Source.CLASSIFIER)
    return {row.detection_id: (row.version, row.confidence) for row in rows}


def test_too_few_marks_train_nothing_and_say_what_is_missing(crops: Crops) -> None:
    crops.marked_set(positives=4)
    outcome = services.train_label(crops.label.pk)
    assert outcome.classifier_id is None
    assert "needs 5 positive and 5 negative crops" in outcome.status
    learned = LearnedLabel.objects.get(pk=crops.label.pk)
    assert learned.classifier is None
    assert learned.status.startswith("not trained: needs 5")


def test_enough_marks_train_version_one_with_held_out_figures(crops: Crops) -> None:
    crops.marked_set()
    outcome = services.train_label(crops.label.pk)
    classifier = Classifier.objects.get(pk=outcome.classifier_id)
    assert (classifier.version, classifier.positives, classifier.negatives) == (1, 6, 6)
    assert (classifier.precision, classifier.recall) == (1.0, 1.0)
    assert (classifier.collection, classifier.dimension) == ("DetectionV3", 4)
    assert len(classifier.weights) == 4 and all(isinstance(w, float) for w in classifier.weights)
    assert LearnedLabel.objects.get(pk=crops.label.pk).classifier == classifier
    assert Backfill.objects.get(pk=classifier.pk).started_at is None
    assert outcome.status.startswith("version 1 trained on 6 positive and 6 negative crops")


def test_the_same_marks_again_keep_the_version_and_a_change_makes_the_next(
    crops: Crops,
) -> None:
    crops.marked_set()
    services.train_label(crops.label.pk)
    again = services.train_label(crops.label.pk)
    assert again.classifier_id is None
    assert again.status == "up to date: version 1 was trained on these marks"
    crops.mark([crops.add(near(LIKE, 9))], Value.POSITIVE)
    assert (
        Classifier.objects.get(pk=services.train_label(crops.label.pk).classifier_id).version == 2
    )


def test_marked_crops_without_a_vector_are_left_out_and_counted(crops: Crops) -> None:
    crops.marked_set()
    crops.mark([crops.data.add()], Value.POSITIVE)  # not embedded yet
    outcome = services.train_label(crops.label.pk)
    assert outcome.classifier_id is not None
    assert outcome.status.endswith("(1 marked crops have no vector yet)")
    assert Classifier.objects.get(pk=outcome.classifier_id).positives == 6


def test_a_backfill_scores_every_embedded_crop_above_the_threshold(crops: Crops) -> None:
    yes, no = crops.marked_set()
    like = [crops.add(near(LIKE, n)) for n in range(10, 14)]
    unlike = [crops.add(near(UNLIKE, n)) for n in range(10, 14)]
    classifier_id = services.train_label(crops.label.pk).classifier_id
    assert classifier_id is not None

    assert services.backfill(classifier_id) is True

    scores = classifier_scores(crops)
    assert set(scores) == {row.id for row in [*yes, *like]}
    assert all(version == 1 for version, _ in scores.values())
    job = Backfill.objects.get(pk=classifier_id)
    assert (job.done, job.total, job.error) == (20, 20, "")
    assert job.finished_at is not None
    assert not {row.id for row in [*no, *unlike]} & set(scores)


def test_a_backfill_goes_on_from_its_cursor_in_slices(
    crops: Crops, monkeypatch: pytest.MonkeyPatch
) -> None:
    crops.marked_set()
    classifier_id = services.train_label(crops.label.pk).classifier_id
    assert classifier_id is not None
    monkeypatch.setattr(services, "PAGE", 5)

    progress = []
    while not services.backfill(classifier_id, budget_s=0):
        job = Backfill.objects.get(pk=classifier_id)
        progress.append(job.done)
        assert job.finished_at is None

    assert progress == [5, 10]
    assert Backfill.objects.get(pk=classifier_id).done == 12
    assert len(classifier_scores(crops)) == 6


def test_retraining_rescores_and_removes_the_older_versions_scores(crops: Crops) -> None:
    yes, _ = crops.marked_set()
    first = services.train_label(crops.label.pk).classifier_id
    assert first is not None
    services.backfill(first)
    # The user now says the first two positives are not it after all.
    crops.mark(yes[:2], Value.NEGATIVE)
    crops.mark([crops.add(near(LIKE, n)) for n in range(20, 22)], Value.POSITIVE)
    second = services.train_label(crops.label.pk).classifier_id
    assert second is not None
    # Until the backfill passes, the older rows stay, recognisably stale.
    assert {version for version, _ in classifier_scores(crops).values()} == {1}

    services.backfill(second)

    assert {version for version, _ in classifier_scores(crops).values()} == {2}


def test_a_superseded_backfill_stops(crops: Crops) -> None:
    crops.marked_set()
    first = services.train_label(crops.label.pk).classifier_id
    crops.mark([crops.add(near(LIKE, 30))], Value.POSITIVE)
    services.train_label(crops.label.pk)
    assert first is not None

    assert services.backfill(first) is True

    job = Backfill.objects.get(pk=first)
    assert job.error.startswith("stopped: the label has a newer classifier")
    assert job.done == 0 and not classifier_scores(crops)


def test_marks_no_longer_enough_retire_the_classifier_and_its_scores(crops: Crops) -> None:
    yes, _ = crops.marked_set()
    classifier_id = services.train_label(crops.label.pk).classifier_id
    assert classifier_id is not None
    services.backfill(classifier_id)
    assert classifier_scores(crops)
    Mark.objects.filter(detection__in=yes[:3]).delete()

    outcome = services.train_label(crops.label.pk)

    assert outcome.status.startswith("not trained: needs 5 positive")
    assert LearnedLabel.objects.get(pk=crops.label.pk).classifier is None
    assert not classifier_scores(crops)


def test_a_classifier_of_another_embedding_is_not_applied(crops: Crops, settings: Settings) -> None:
    crops.marked_set()
    services.train_label(crops.label.pk)
    assert [c.version for c in scoring.classifiers_in_use(4)] == [1]
    settings.VECTOR_STORE = {**settings.VECTOR_STORE, "collection": "DetectionV4"}
    assert scoring.classifiers_in_use(4) == []
    # And training again on the new embedding makes a new version, the marks being the same.
    assert services.train_label(crops.label.pk).classifier_id is not None
