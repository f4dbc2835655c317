"""The classifier page: figures for everyone, "Train now" for labelers, progress as JSON."""

from __future__ import annotations

from unittest import mock

import pytest
from django.test import Client

from cloud.access.models import Role
from cloud.learned import services, tasks
from tests.cloud.learned.conftest import Crops
from tests.users import make_user

pytestmark = pytest.mark.django_db


def test_a_viewer_sees_the_figures_but_no_train_button(client: Client, crops: Crops) -> None:
    crops.marked_set()
    classifier_id = services.train_label(crops.label.pk).classifier_id
    assert classifier_id is not None
    services.backfill(classifier_id)
    client.force_login(make_user("viewer"))

    page = client.get(f"/labels/{crops.label.pk}/classifier/")

    assert page.status_code == 200
    html = page.content.decode()
    assert '<dd id="precision">1.00</dd>' in html and '<dd id="recall">1.00</dd>' in html
    assert 'id="backfill" max="12" value="12"' in html
    assert 'id="train"' not in html
    assert client.post(f"/labels/{crops.label.pk}/classifier/train/").status_code == 403


def test_progress_is_polled_as_json(
    client: Client, crops: Crops, monkeypatch: pytest.MonkeyPatch
) -> None:
    crops.marked_set()
    classifier_id = services.train_label(crops.label.pk).classifier_id
    assert classifier_id is not None
    monkeypatch.setattr(services, "PAGE", 5)
    services.backfill(classifier_id, budget_s=0)  # one page
    client.force_login(make_user("viewer"))

    state = client.get(f"/labels/{crops.label.pk}/classifier/progress.json").json()

    assert state["classifier"]["version"] == 1
    assert state["classifier"]["current_embedding"] is True
    assert (state["backfill"]["done"], state["backfill"]["total"]) == (5, 12)
    assert state["backfill"]["finished_at"] is None


def test_a_labeler_queues_a_training_now(client: Client, crops: Crops) -> None:
    client.force_login(make_user("labeler", Role.LABELER))
    with mock.patch.object(tasks.train_label, "apply_async") as queued:
        page = client.post(f"/labels/{crops.label.pk}/classifier/train/", follow=True)
        again = client.post(f"/labels/{crops.label.pk}/classifier/train/", follow=True)
    queued.assert_called_once_with((crops.label.pk,), countdown=0)
    assert "Training of red jacket queued." in page.content.decode()
    assert "is queued already" in again.content.decode()
    assert "training queued" in again.content.decode()


def test_an_unknown_label_is_a_404(client: Client, db: None) -> None:
    client.force_login(make_user("viewer"))
    assert client.get("/labels/999/classifier/").status_code == 404
    assert client.get("/labels/999/classifier/progress.json").status_code == 404
