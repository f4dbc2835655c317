"""The embed worker's scoring of new crops with the labels' classifiers."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cloud.embeddings.analysers import VECTOR_CONSUMERS, vector_consumers
from cloud.labels.models import Label, Score, Value
from cloud.learned import services
from cloud.learned.scoring import score_new_crops
from tests.cloud.learned.conftest import LIKE, UNLIKE, Crops, near

pytestmark = pytest.mark.django_db


def unit_rows(rows: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_the_embed_worker_runs_it_on_every_batch() -> None:
    assert "cloud.learned.scoring:score_new_crops" in VECTOR_CONSUMERS
    assert score_new_crops in vector_consumers()


def test_new_crops_like_the_positives_get_a_score_of_the_classifier_version(
    crops: Crops,
) -> None:
    crops.marked_set()
    services.train_label(crops.label.pk)
    vectors = [near(LIKE, 40), near(UNLIKE, 40)]
    new = [crops.add(vector) for vector in vectors]

    score_new_crops(new, unit_rows(vectors))
    score_new_crops(new, unit_rows(vectors))  # a retried batch: the same one row

    rows = Score.objects.filter(source=Score.Source.CLASSIFIER)
    assert [(row.detection_id, row.version) for row in rows] == [(new[0].id, 1)]
    assert 0.5 < rows[0].confidence <= 1.0


def test_a_crop_scored_again_below_the_threshold_loses_its_score(crops: Crops) -> None:
    crops.marked_set()
    services.train_label(crops.label.pk)
    row = crops.add(near(LIKE, 41))
    score_new_crops([row], unit_rows([near(LIKE, 41)]))
    score_new_crops([row], unit_rows([near(UNLIKE, 41)]))  # re-embedded, looks different
    assert not Score.objects.filter(source=Score.Source.CLASSIFIER).exists()


def test_every_labels_classifier_scores_in_one_pass_and_stays_cached(crops: Crops) -> None:
    crops.marked_set()
    other = Label.objects.create(name="our staff")
    services.train_label(crops.label.pk)
    # The opposite label: what one calls positive the other calls negative.
    for mark in crops.label.marks.all():
        other.marks.create(
            detection=mark.detection,
            value=Value.NEGATIVE if mark.value == Value.POSITIVE else Value.POSITIVE,
            at=mark.at,
        )
    services.train_label(other.pk)
    vectors = [near(LIKE, 42), near(UNLIKE, 42)]
    new = [crops.add(vector) for vector in vectors]
    score_new_crops(new, unit_rows(vectors))

    scored = Score.objects.filter(source=Score.Source.CLASSIFIER)
    assert sorted((row.label_id, row.detection_id) for row in scored) == sorted(
        [(crops.label.pk, new[0].id), (other.pk, new[1].id)]
    )
    with CaptureQueriesContext(connection) as queries:
        score_new_crops(new, unit_rows(vectors))
    # Which versions are in use, then one write and one clean-up per label: no reload.
    assert len(queries) == 5


def test_without_classifiers_it_costs_one_query(crops: Crops) -> None:
    row = crops.add(near(LIKE, 43))
    with CaptureQueriesContext(connection) as queries:
        score_new_crops([row], unit_rows([near(LIKE, 43)]))
    assert len(queries) == 1
