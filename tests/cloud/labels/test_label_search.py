"""Labels in search: the grid's filter, similar search's filter, and text search by a label's
name (the offline MiniLM model matching the words)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from cloud.detections.models import Detection
from cloud.labels.marks import apply_marks
from cloud.labels.matching import LEARNED_MIN_CONFIDENCE
from cloud.labels.models import Label, Score, Value
from cloud.labels.terms import UserLabels
from tests.models.built_models import require_model

pytestmark = pytest.mark.django_db


def shown(response: object) -> list[str]:
    return [card.detection.id for card in response.context["cards"]]  # type: ignore[attr-defined]


def test_the_grid_and_similar_search_filter_by_user_label(
    client: Client, crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    a, b, c, y = (crops[name] for name in "abcy")
    apply_marks(label, {a.id: Value.POSITIVE, c.id: Value.NEGATIVE}, labeler)
    Score.objects.create(
        label=label,
        detection=b,
        track_id=b.track_id,
        source=Score.Source.CLASSIFIER,
        confidence=LEARNED_MIN_CONFIDENCE,
        updated_at=timezone.now(),
    )
    client.force_login(labeler)
    grid = client.get("/", {"user_label": label.pk})
    assert "Label" in [field.label for field in grid.context["form"]]
    assert shown(grid) == [b.id, a.id]  # newest first
    assert [card.user_labels for card in grid.context["cards"]] == [("Delivery van",)] * 2
    assert '<dt>Labels</dt><dd class="user-labels">Delivery van</dd>' in grid.content.decode()
    similar = client.get(f"/detections/{y.id}/similar/", {"user_label": label.pk})
    assert shown(similar) == [b.id, a.id]  # most similar first; c is negative
    refused = client.get("/", {"user_label": "999"})
    assert refused.context["form"].errors["user_label"]


def test_text_search_understands_a_label_by_its_name(
    client: Client, crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    require_model("minilm-l6")
    apply_marks(label, {crops["b"].id: Value.POSITIVE}, labeler)
    assert [term.name for term in UserLabels().terms()] == ["Delivery van"]
    client.force_login(labeler)
    found = client.get("/text/", {"q": "show me the delivery van"})
    assert found.context["understood"].describe() == "Delivery van"
    assert shown(found) == [crops["b"].id]
    assert client.get("/api/v1/search/text", {"q": "delivery van"}).json()["understood"][
        "terms"
    ] == ["Delivery van"]
