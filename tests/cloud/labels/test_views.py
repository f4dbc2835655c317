"""The label pages as plain forms (no JavaScript): make labels, mark crops from a crop's
labelling page, undo from the history, rename, change thresholds, delete; roles and scope."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from cloud.access.models import Role
from cloud.detections.models import Detection
from cloud.fleet.models import CameraGroup
from cloud.labels.marks import apply_marks
from cloud.labels.models import Label, Mark, MarkEvent, Value
from tests.users import make_user

pytestmark = pytest.mark.django_db


def marks(label: Label) -> dict[str, str]:
    return dict(Mark.objects.filter(label=label).values_list("detection_id", "value"))


def text(response: object) -> str:
    """The page's HTML, entities decoded and spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(response.content.decode()))  # type: ignore[attr-defined]


def test_a_labeler_makes_a_label_from_a_crop_and_marks_it_and_its_look_alikes(
    client: Client, crops: dict[str, Detection], labeler: User
) -> None:
    client.force_login(labeler)
    a, b, c = crops["a"], crops["b"], crops["c"]
    assert b'href="/labels/crops/' + a.id.encode() in client.get("/").content
    assert "Choose a label" in text(client.get(f"/labels/crops/{a.id}/"))
    made = client.post("/labels/", {"name": "  Delivery   van ", "crop": a.id})
    label = Label.objects.get()
    assert label.name == "Delivery van" and label.created_by == labeler
    page_url = f"/labels/{label.pk}/crops/{a.id}/"
    assert made["Location"] == page_url
    page = client.get(page_url)
    assert page.status_code == 200
    shown = [item.card.detection.id for item in page.context["cards"]]
    assert shown[:2] == [crops["y"].id, b.id]  # most similar first, the yard's too
    posted = client.post(
        f"/labels/{label.pk}/marks/",
        {"detection": [a.id, b.id], "value": "positive", "next": page_url},
        follow=True,
    )
    assert posted.redirect_chain == [(page_url, 302)]
    assert "Positive: 2 of 2 crops changed for 'Delivery van'." in text(posted)
    assert marks(label) == {a.id: "positive", b.id: "positive"}
    assert posted.context["query_card"].mark == "positive"
    assert 'class="crop markable mark-positive"' in text(posted)
    client.post(f"/labels/{label.pk}/marks/", {"detection": [c.id], "value": "negative"})
    cleared = client.post(
        f"/labels/{label.pk}/marks/", {"detection": [b.id], "value": "clear", "next": page_url}
    )
    assert cleared["Location"] == page_url
    assert marks(label) == {a.id: "positive", c.id: "negative"}


def test_marking_needs_a_selection_and_an_action(
    client: Client, crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    client.force_login(labeler)
    url = f"/labels/{label.pk}/marks/"
    nothing = client.post(url, {"value": "positive"})
    assert nothing.status_code == 400 and "Select crops first." in text(nothing)
    odd = client.post(url, {"detection": [crops["a"].id], "value": "maybe"})
    assert odd.status_code == 400 and "Choose positive, negative or clear." in text(odd)
    elsewhere = client.post(
        url, {"detection": [crops["a"].id], "value": "positive", "next": "https://evil.example/"}
    )
    assert elsewhere["Location"] == f"/labels/{label.pk}/"
    assert MarkEvent.objects.count() == 1


def test_viewers_see_labels_and_marks_but_cannot_change_them(
    client: Client, crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    a = crops["a"].id
    apply_marks(label, {a: Value.POSITIVE}, labeler)
    client.force_login(make_user("vera", Role.VIEWER))
    assert "Delivery van" in text(client.get("/labels/"))
    page = client.get(f"/labels/{label.pk}/")
    assert page.status_code == 200
    assert [item.card.detection.id for item in page.context["positives"]] == [a]
    assert 'name="detection"' not in text(page) and "Undo" not in text(page)
    assert b'href="/labels/crops/' not in client.get("/").content
    for url, data in (
        ("/labels/", {"name": "mine"}),
        (f"/labels/{label.pk}/marks/", {"detection": [a], "value": "negative"}),
        (f"/labels/{label.pk}/undo/", {"batch": str(MarkEvent.objects.get().batch)}),
        (f"/labels/{label.pk}/edit/", {"name": "x"}),
        (f"/labels/{label.pk}/delete/", {"confirm": label.name}),
    ):
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert "This needs the labeler role." in text(response)
    assert marks(label) == {a: "positive"} and Label.objects.count() == 1


def test_a_scoped_labeler_cannot_mark_or_see_a_crop_outside_their_cameras(
    client: Client, crops: dict[str, Detection], entrances: CameraGroup, label: Label, labeler: User
) -> None:
    a, y = crops["a"].id, crops["y"].id
    client.force_login(make_user("door", Role.LABELER, all_sites=False, groups=[entrances]))
    hidden = client.post(f"/labels/{label.pk}/marks/", {"detection": [a, y], "value": "positive"})
    assert hidden.status_code == 404 and "No such crop" in text(hidden)
    assert client.get(f"/labels/{label.pk}/crops/{y}/").status_code == 404
    assert client.get(f"/labels/crops/{y}/").status_code == 404
    page = client.get(f"/labels/{label.pk}/crops/{a}/")
    assert y not in text(page)  # not among the similar crops either
    assert not Mark.objects.exists()
    # An action that touched the yard is not theirs to undo, nor to see in full.
    batch = apply_marks(label, {a: Value.POSITIVE, y: Value.POSITIVE}, labeler)
    assert client.post(f"/labels/{label.pk}/undo/", {"batch": str(batch)}).status_code == 404
    (shown,) = client.get(f"/labels/{label.pk}/").context["history"]
    assert (shown.positive, shown.undoable) == (1, False)


def test_undo_from_the_history_and_the_last_action(
    client: Client, crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    a, b = crops["a"].id, crops["b"].id
    client.force_login(labeler)
    url = f"/labels/{label.pk}/"
    client.post(f"{url}marks/", {"detection": [a], "value": "positive"})
    client.post(f"{url}marks/", {"detection": [a, b], "value": "negative"})
    page = client.get(url)
    latest, first = page.context["history"]
    assert (latest.by, latest.negative, latest.undoable) == ("lena", 2, True)
    assert page.context["undo_batch"] == latest.id
    undone = client.post(f"{url}undo/", {"batch": str(latest.id)}, follow=True)
    assert "Undone" in text(undone)
    assert marks(label) == {a: "positive"}
    assert undone.context["undo_batch"] == first.id  # Z steps further back
    again = client.post(f"{url}undo/", {"batch": str(latest.id)})
    assert again.status_code == 409 and "undone already" in text(again)
    assert client.post(f"{url}undo/", {"batch": "nonsense"}).status_code == 400
    rows = client.get(url).context["history"]
    assert [(row.undoes, row.undone) for row in rows] == [
        (latest.id, False),
        (None, True),
        (None, False),
    ]


def test_rename_thresholds_and_delete(
    client: Client, crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    client.force_login(labeler)
    Label.objects.create(name="staff")
    url = f"/labels/{label.pk}/"
    settings = {"name": "Courier van", "positive_threshold": 0.85, "negative_threshold": 0.98}
    assert client.post(f"{url}edit/", settings)["Location"] == url
    label.refresh_from_db()
    assert (label.name, label.positive_threshold) == ("Courier van", 0.85)
    taken = client.post(f"{url}edit/", {**settings, "name": "STAFF"})
    assert taken.status_code == 400 and "A label called 'STAFF' exists" in text(taken)
    bad = client.post(f"{url}edit/", {**settings, "positive_threshold": 1})
    assert bad.status_code == 400 and "from -1 to below 1" in text(bad)
    label.refresh_from_db()
    assert (label.name, label.positive_threshold) == ("Courier van", 0.85)
    apply_marks(label, {crops["a"].id: Value.POSITIVE}, labeler)
    unconfirmed = client.post(f"{url}delete/", {"confirm": "yes"})
    assert unconfirmed.status_code == 400 and Label.objects.filter(pk=label.pk).exists()
    assert client.post(f"{url}delete/", {"confirm": "Courier van"})["Location"] == "/labels/"
    assert not Label.objects.filter(pk=label.pk).exists() and not Mark.objects.exists()
    duplicate = client.post("/labels/", {"name": "Staff"})
    assert duplicate.status_code == 400 and "exists already" in text(duplicate)
