"""The suggestions page of a label: what it lists, for whom, and accepting/rejecting in bulk."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from cloud.access.models import Role
from cloud.detections.models import Detection
from cloud.fleet.models import Camera, CameraGroup
from cloud.labels import suggestions_views
from cloud.labels.models import Label, Mark, Score, Value
from cloud.labels.suggestions import refresh_suggestions
from tests.cloud.labels.suggestion_data import (
    POSITIVE,
    at,
    mark,
    similarity_scores,
    turned,
)
from tests.cloud.search.data import SearchData, track_id
from tests.users import make_user


def score(
    label: Label, detection: Detection, confidence: float, source: str = "similarity"
) -> None:
    Score.objects.create(
        label=label,
        detection=detection,
        track_id=detection.track_id,
        source=source,
        confidence=confidence,
        updated_at=timezone.now(),
    )


def url(label: Label) -> str:
    return f"/labels/{label.pk}/suggestions/"


def listed(client: Client, label: Label, page: int = 1) -> list[tuple[str, float]]:
    response = client.get(url(label), {"page": page})
    assert response.status_code == 200
    return [
        (suggestion.card.detection.id, round(suggestion.confidence, 2))
        for suggestion in response.context["page"].suggestions
    ]


def test_it_lists_unmarked_crops_most_confident_first_once_per_track_with_both_sources(
    client: Client, search_data: SearchData, label: Label, labeler: User
) -> None:
    van = track_id("van")
    van_front, van_side = search_data.add(track_id=van), search_data.add(track_id=van)
    person = search_data.add()
    marked = search_data.add()
    score(label, van_front, 0.4)
    score(label, van_side, 0.7)
    score(label, van_side, 0.9, "classifier")
    score(label, person, 0.8)
    score(label, marked, 0.99)
    mark(label, marked, Value.POSITIVE)
    client.force_login(labeler)
    assert listed(client, label) == [(van_side.id, 0.9), (person.id, 0.8)]
    response = client.get(url(label))
    first = response.context["page"].suggestions[0]
    assert (first.similarity, first.classifier, first.crops) == (0.7, 0.9, 2)
    html = response.content.decode()
    assert "Accept selected" in html and 'name="track"' in html
    assert f'src="{first.card.image_url.split("?")[0]}?' in html  # the presigned crop


def test_it_shows_only_the_cameras_the_user_may_see(
    client: Client, search_data: SearchData, label: Label
) -> None:
    lobby = search_data.add()
    yard = search_data.add(camera_id="yard")
    score(label, lobby, 0.5)
    score(label, yard, 0.6)
    entrances = CameraGroup.objects.create(site_id="hq", name="entrances")
    entrances.cameras.add(Camera.objects.get(device_id="gate-01", edge_id="lobby"))
    client.force_login(make_user("scoped", Role.LABELER, all_sites=False, groups=[entrances]))
    assert listed(client, label) == [(lobby.id, 0.5)]
    # Accepting the other camera's track by its id marks nothing.
    client.post(url(label), {"action": "accept", "track": [yard.track_id]})
    assert not Mark.objects.exists()


def test_it_pages_through_the_suggestions(
    client: Client,
    search_data: SearchData,
    label: Label,
    labeler: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(suggestions_views, "PAGE_SIZE", 2)
    crops = [search_data.add() for _ in range(3)]
    for i, crop in enumerate(crops):
        score(label, crop, 0.9 - i / 10)
    client.force_login(labeler)
    assert [crop for crop, _ in listed(client, label)] == [c.id for c in crops[:2]]
    assert listed(client, label, page=2) == [(crops[2].id, 0.7)]
    assert "Next" in client.get(url(label)).content.decode()


def test_accepting_in_bulk_marks_every_suggested_crop_of_the_tracks_positive(
    client: Client, search_data: SearchData, label: Label, labeler: User
) -> None:
    van = track_id("van")
    van_front, van_side = search_data.add(track_id=van), search_data.add(track_id=van)
    person, other = search_data.add(), search_data.add()
    for crop in (van_front, van_side, person, other):
        score(label, crop, 0.5)
    client.force_login(labeler)
    response = client.post(url(label), {"action": "accept", "track": [van, person.track_id]})
    assert response.status_code == 302 and response["Location"] == url(label)
    marks = dict(Mark.objects.values_list("detection_id", "value"))
    assert marks == {van_front.id: "positive", van_side.id: "positive", person.id: "positive"}
    assert all(mark.by == labeler for mark in Mark.objects.all())
    page = client.get(response["Location"])
    assert "Accepted 2 suggestions (3 crops marked positive)" in page.content.decode()
    assert [crop for crop, _ in listed(client, label)] == [other.id]


def test_a_rejected_suggestion_and_its_near_duplicates_do_not_come_back(
    client: Client, search_data: SearchData, label: Label, labeler: User
) -> None:
    mark(label, search_data.add(POSITIVE), Value.POSITIVE)
    rejected = search_data.add(turned(18.0))
    near_copy = search_data.add(turned(18.19))
    other_side = search_data.add(turned(-18.19))
    refresh_suggestions(label.pk)
    client.force_login(labeler)
    assert len(listed(client, label)) == 3
    response = client.post(url(label), {"action": "reject", "track": [rejected.track_id]})
    assert response.status_code == 302
    assert Mark.objects.get(detection=rejected).value == "negative"
    # At once, before the refresh the marks queued has run ...
    assert [crop for crop, _ in listed(client, label)] == [other_side.id]
    # ... and after it.
    refresh_suggestions(label.pk)
    assert set(similarity_scores(label)) == {other_side.id}
    assert near_copy.id not in {crop for crop, _ in listed(client, label)}


def test_viewers_see_suggestions_but_may_not_decide(
    client: Client, search_data: SearchData, label: Label
) -> None:
    crop = search_data.add(at(0.95))
    score(label, crop, 0.5)
    client.force_login(make_user("viewer", Role.VIEWER))
    response = client.get(url(label))
    assert response.status_code == 200 and "Accept selected" not in response.content.decode()
    assert (
        client.post(url(label), {"action": "accept", "track": [crop.track_id]}).status_code == 403
    )
    assert not Mark.objects.exists()


def test_bad_input_is_a_clear_400_and_marks_nothing(
    client: Client, search_data: SearchData, label: Label, labeler: User
) -> None:
    crop = search_data.add()
    score(label, crop, 0.5)
    client.force_login(labeler)
    unknown = client.post(url(label), {"action": "delete", "track": [crop.track_id]})
    assert unknown.status_code == 400
    assert "Choose Accept or Reject." in unknown.content.decode()
    malformed = client.post(url(label), {"action": "accept", "track": ["x\x00y"]})
    assert malformed.status_code == 400 and "is not a sighting id" in malformed.content.decode()
    nothing = client.post(url(label), {"action": "accept"}, follow=True)
    assert "Nothing selected" in nothing.content.decode()
    assert not Mark.objects.exists()
    assert listed(client, label) == [(crop.id, 0.5)]
    assert client.get("/labels/999/suggestions/").status_code == 404
