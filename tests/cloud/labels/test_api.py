"""The labels API: the label pages' rules as JSON (roles, scope, undo refusals), and the
sightings filter by user label."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from cloud.access import tokens
from cloud.access.models import Role
from cloud.detections.models import Detection
from cloud.fleet.models import CameraGroup
from cloud.labels.models import Label, Mark
from tests.users import make_user

pytestmark = pytest.mark.django_db


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.create_token(user.pk, 'test')[1]}"}


def call(
    client: Client, headers: dict[str, str], method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    response = getattr(client, method)(
        f"/api/v1{url}", body, content_type="application/json", headers=headers
    )
    return response.status_code, (response.json() if response.content else None)


def test_labelers_make_labels_mark_and_undo(
    client: Client, crops: dict[str, Detection], labeler: User
) -> None:
    me = bearer(labeler)
    a, b = crops["a"].id, crops["b"].id
    status, made = call(client, me, "post", "/labels", {"name": "Delivery van"})
    assert status == 201 and made["name"] == "Delivery van" and made["created_by"] == "lena"
    status, taken = call(client, me, "post", "/labels", {"name": "delivery VAN"})
    assert status == 400 and "exists already" in taken["detail"]
    url = f"/labels/{made['id']}"
    status, first = call(client, me, "post", f"{url}/marks", {"marks": {a: "positive"}})
    assert status == 200 and first["changed"] == 1
    _, second = call(client, me, "post", f"{url}/marks", {"marks": {a: None, b: "negative"}})
    _, label = call(client, me, "get", url)
    assert (label["positives"], label["negatives"]) == (0, 1)
    status, listed = call(client, me, "get", f"{url}/marks?value=negative")
    assert [item["id"] for item in listed["items"]] == [b]
    status, refused = call(client, me, "post", f"{url}/undo", {"batch": first["batch"]})
    assert status == 409 and "marked again since" in refused["detail"]
    status, undone = call(client, me, "post", f"{url}/undo", {"batch": second["batch"]})
    assert status == 200 and undone["changed"] == 2
    assert dict(Mark.objects.values_list("detection_id", "value")) == {a: "positive"}
    status, twice = call(client, me, "post", f"{url}/undo", {"batch": second["batch"]})
    assert status == 409 and "undone already" in twice["detail"]
    _, rows = call(client, me, "get", f"{url}/history")
    assert [(row["undoes"], row["undone"]) for row in rows] == [
        (second["batch"], False),
        (None, True),
        (None, False),
    ]
    status, changed = call(client, me, "patch", url, {"positive_threshold": 0.8})
    assert status == 200 and changed["positive_threshold"] == 0.8
    status, bad = call(client, me, "patch", url, {"positive_threshold": 1.0})
    assert status == 400 and "positive_threshold" in bad["errors"]
    status, wrong = call(client, me, "post", f"{url}/marks", {"marks": {a: "maybe"}})
    assert status == 400 and f"marks.{a}" in wrong["errors"]
    assert call(client, me, "delete", url)[0] == 204
    assert not Label.objects.exists()


def test_viewers_read_but_cannot_mark_and_scoped_users_cannot_reach_other_crops(
    client: Client, crops: dict[str, Detection], entrances: CameraGroup, label: Label
) -> None:
    a, y = crops["a"].id, crops["y"].id
    viewer = bearer(make_user("vera", Role.VIEWER))
    status, listed = call(client, viewer, "get", "/labels")
    assert status == 200 and [row["name"] for row in listed] == ["Delivery van"]
    url = f"/labels/{label.pk}"
    status, refused = call(client, viewer, "post", f"{url}/marks", {"marks": {a: "positive"}})
    assert status == 403 and refused["detail"] == "This needs the labeler role."
    assert call(client, viewer, "post", "/labels", {"name": "mine"})[0] == 403
    door = bearer(make_user("door", Role.LABELER, all_sites=False, groups=[entrances]))
    status, hidden = call(client, door, "post", f"{url}/marks", {"marks": {a: "positive", y: None}})
    assert status == 404 and y in hidden["detail"]
    assert not Mark.objects.exists()
    assert call(client, door, "post", f"{url}/marks", {"marks": {a: "positive"}})[0] == 200


def test_sightings_are_filtered_by_user_label(
    client: Client, crops: dict[str, Detection], label: Label, labeler: User
) -> None:
    me = bearer(labeler)
    a, y = crops["a"], crops["y"]
    call(client, me, "post", f"/labels/{label.pk}/marks", {"marks": {a.id: "positive"}})
    status, page = call(client, me, "get", f"/tracks?user_label={label.pk}")
    assert status == 200 and [item["id"] for item in page["items"]] == [a.track_id]
    status, similar = call(client, me, "get", f"/detections/{y.id}/similar?user_label={label.pk}")
    assert [item["id"] for item in similar["items"]] == [a.id]
    status, unknown = call(client, me, "get", "/tracks?user_label=999")
    assert status == 400 and "user_label" in unknown["errors"]
