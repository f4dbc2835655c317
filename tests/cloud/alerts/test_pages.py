"""The alerts pages: made from a label or a search, listed, read with their events, changed."""

from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from cloud.access.models import Role
from cloud.alerts.events import Match, record
from cloud.alerts.models import Alert
from cloud.labels.models import Label
from cloud.search.example import QueryChoice, UploadAnalysis
from cloud.search.example_views import SESSION_KEY
from tests.cloud.alerts.conftest import AddCrop
from tests.models.built_models import require_model
from tests.users import make_user

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_viewer_may_not_make_an_alert(client: Client) -> None:
    client.force_login(make_user("vi", Role.VIEWER))
    assert client.get("/alerts/new/", {"q": "person"}).status_code == 403
    assert client.post("/alerts/new/?q=person", {"name": "x"}).status_code == 403
    assert not Alert.objects.exists()


def test_a_labeler_makes_an_alert_from_a_text_search_with_its_filters(
    owner: User, add_crop: AddCrop
) -> None:
    require_model("minilm-l6")
    crop = add_crop()
    client = _client(owner)
    url = f"/alerts/new/?q=man+in+a+red+jacket&camera={crop.camera_id}&since=2026-01-01T00:00"
    page = client.get(url)
    assert page.status_code == 200
    assert "man in a red jacket" in page.content.decode()

    made = client.post(
        url,
        {"name": "red jackets", "threshold": "0.9", "webhook_url": "https://hooks.example/a",
         "mqtt": "on", "min_interval_s": "30"},
    )  # fmt: skip

    alert = Alert.objects.get()
    assert made.status_code == 302
    assert made["Location"] == f"/alerts/{alert.pk}/"
    assert (alert.kind, alert.text, alert.owner) == ("search", "man in a red jacket", owner)
    assert alert.understood == {
        "terms": [{"source": "class", "name": "person"}],
        "colours": [{"part": "upper", "colour": "red"}],
    }
    assert alert.filters == {"camera": [str(crop.camera_id)]}  # a time range is not kept
    assert (alert.webhook_url, alert.mqtt, alert.min_interval_s) == (
        "https://hooks.example/a",
        True,
        30,
    )


def test_a_label_page_link_makes_a_label_alert(owner: User) -> None:
    van = Label.objects.create(name="delivery van")
    client = _client(owner)
    url = f"/alerts/new/?for_label={van.pk}"
    assert "delivery van" in client.get(url).content.decode()

    client.post(url, {"name": "vans", "threshold": "0.8", "min_interval_s": "60"})

    alert = Alert.objects.get()
    assert (alert.kind, alert.label, alert.threshold) == ("label", van, 0.8)


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("/alerts/new/?for_label=999", {"name": "x"}, "That label does not exist"),
        ("/alerts/new/", {"name": "x"}, "Open this page from a label or a search"),
        ("/alerts/new/?upload=gone&object=0", {"name": "x"}, "no longer kept"),
        ("/alerts/new/?label=person", {"name": "x", "threshold": "0.9", "min_interval_s": "1",
                                       "webhook_url": "ftp://files.example/"}, "Give an http://"),
        ("/alerts/new/?camera=999", {"name": "x", "threshold": "0.9", "min_interval_s": "1"},
         "Select a valid choice"),
    ],
)  # fmt: skip
def test_what_cannot_be_an_alert_is_said_on_the_page_and_nothing_is_stored(
    owner: User, add_crop: AddCrop, url: str, data: dict[str, str], message: str
) -> None:
    add_crop()
    response = _client(owner).post(url, data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Alert.objects.exists()


def test_an_alert_page_shows_its_events_with_their_crop_and_track(
    owner: User, add_crop: AddCrop, queued: list[int], store: object
) -> None:
    alert = Alert.objects.create(
        owner=owner, name="people", kind="search", filters={"label": ["person"]}
    )
    crop = add_crop()
    record({alert: [Match(crop, 0.93)]})
    client = _client(owner)

    listing = client.get("/alerts/").content.decode()
    page = client.get(f"/alerts/{alert.pk}/").content.decode()

    assert f'href="/alerts/{alert.pk}/"' in listing
    assert f'href="/detections/{crop.id}/similar/"' in page
    assert f'href="/tracks/{crop.track_id}/"' in page
    assert "0.930" in page
    assert "<img src=" in page


def test_alerts_are_their_owners_and_every_admins(owner: User) -> None:
    alert = Alert.objects.create(owner=owner, name="mine", kind="search", filters={"label": ["x"]})
    other = _client(make_user("ot", Role.LABELER))
    admin = _client(make_user("ad", Role.ADMIN))

    assert other.get(f"/alerts/{alert.pk}/").status_code == 404
    assert other.post(f"/alerts/{alert.pk}/delete/").status_code == 404
    assert "mine" not in other.get("/alerts/").content.decode()
    assert admin.get(f"/alerts/{alert.pk}/").status_code == 200
    assert "mine" in admin.get("/alerts/").content.decode()
    assert Alert.objects.filter(pk=alert.pk).exists()


def test_the_owner_turns_an_alert_off_and_on_and_deletes_it(owner: User) -> None:
    alert = Alert.objects.create(owner=owner, name="mine", kind="search", filters={"label": ["x"]})
    client = _client(owner)

    client.post(f"/alerts/{alert.pk}/enabled/", {"enabled": "0"})
    assert not Alert.objects.get(pk=alert.pk).enabled
    client.post(f"/alerts/{alert.pk}/enabled/", {"enabled": "1"})
    assert Alert.objects.get(pk=alert.pk).enabled
    assert client.post(f"/alerts/{alert.pk}/delete/")["Location"] == "/alerts/"
    assert not Alert.objects.exists()


def test_the_search_pages_offer_an_alert_on_their_filters_to_labelers_only(
    owner: User, add_crop: AddCrop
) -> None:
    add_crop()
    labeler = _client(owner).get("/", {"label": "person"}).content.decode()
    viewer = _client(make_user("vi", Role.VIEWER)).get("/", {"label": "person"}).content.decode()

    assert 'href="/alerts/new/?label=person"' in labeler
    assert "/alerts/new/" not in viewer


def test_an_object_of_an_uploaded_image_becomes_the_alerts_example(owner: User) -> None:
    vector = np.asarray([3, 4, 0, 0], dtype=np.float32)  # unit length once stored
    analysis = UploadAnalysis(
        upload_id="u1",
        width=768,
        height=576,
        objects=[QueryChoice("object", "person", 0.8, (0, 0, 10, 20), b"jpeg", vector)],
        faces=[],
    )
    client = _client(owner)
    session = client.session
    session[SESSION_KEY] = analysis.to_session()
    session.save()
    url = "/alerts/new/?upload=u1&object=0"
    assert "like the person of the uploaded image" in client.get(url).content.decode()

    client.post(url, {"name": "him", "threshold": "0.88", "min_interval_s": "60"})

    alert = Alert.objects.get()
    assert alert.example_collection == settings.VECTOR_STORE["collection"]
    stored = np.frombuffer(bytes(alert.example_vector or b""), dtype=np.float32)
    assert stored == pytest.approx([0.6, 0.8, 0, 0])
    missing = client.get("/alerts/new/?upload=u1&object=1")
    assert missing.status_code == 400
    assert "no such object" in missing.content.decode()
