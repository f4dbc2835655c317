from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from cloud import backends
from cloud.detections.models import Detection, Track
from cloud.faces.models import Face
from cloud.fleet.models import Camera, CameraGroup, Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.objectstore.local import LocalObjectStore
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.search import views
from cloud.search.similarity import DEFAULT_THRESHOLD
from tests.cloud.search.data import SearchData, track_id
from tests.users import make_user

# The capture time of the sample detection in tests/cloud/conftest.py.
T0 = datetime(2026, 11, 21, 9, 30, 12, 400000, tzinfo=UTC)


def minutes(n: int) -> dict[str, object]:
    return {"ts": T0 + timedelta(minutes=n)}


def local_minute(n: int) -> str:
    return (T0 + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def operator(client: Client, db: None) -> Client:
    client.force_login(make_user("operator"))
    return client


@pytest.fixture
def second_device(db: None) -> Device:
    """Another box whose camera is also called "lobby" on its own device."""
    return Device.objects.create(
        id="gate-02", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )


def camera_pk(device_id: str, edge_id: str) -> str:
    return str(Camera.objects.get(device_id=device_id, edge_id=edge_id).pk)


def grid_ids(client: Client, query: dict[str, object] | None = None) -> list[str]:
    response = client.get("/", query or {})
    assert response.status_code == 200
    return [card.detection.id for card in response.context["cards"]]


def similar_ids(
    client: Client, detection_id: str, query: dict[str, object] | None = None
) -> list[str]:
    response = client.get(f"/detections/{detection_id}/similar/", query or {})
    assert response.status_code == 200
    return [card.detection.id for card in response.context["cards"]]


def assert_presigned(objects: LocalObjectStore, url: str, key: str) -> None:
    parts = urlsplit(url)
    assert unquote(parts.path) == f"/objects/{key}"
    query = parse_qs(parts.query)
    objects.verify_presigned(key, query["exp"][0], query["sig"][0])


# The grid -------------------------------------------------------------------------------------


def test_it_shows_crops_newest_first_with_presigned_thumbnails(
    operator: Client, search_data: SearchData
) -> None:
    added = [search_data.add(**minutes(n), score=0.5 + n / 10) for n in range(3)]
    response = operator.get("/")
    cards = response.context["cards"]
    assert [card.detection.id for card in cards] == [d.id for d in reversed(added)]
    for card, detection in zip(cards, reversed(added), strict=True):
        assert_presigned(search_data.objects, card.image_url, detection.object_key)
    html = response.content.decode()
    assert escape(cards[0].image_url) in html
    assert 'alt="person seen by camera gate-01/lobby at 2026-11-21 09:32:12"' in html
    assert "0.70" in html  # the newest crop's detector score


def test_it_serves_the_thumbnails_it_links(operator: Client, search_data: SearchData) -> None:
    search_data.add()
    (card,) = operator.get("/").context["cards"]
    image = Client().get(card.image_url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert b"".join(image.streaming_content) == search_data.jpeg


def test_it_filters_by_several_cameras(
    operator: Client, search_data: SearchData, second_device: Device
) -> None:
    lobby = search_data.add(**minutes(0))
    search_data.add(camera_id="yard", track_id=track_id("yard/3f2a9c/2"), **minutes(1))
    other_lobby = search_data.add(device_id="gate-02", **minutes(2))
    chosen = [camera_pk("gate-01", "lobby"), camera_pk("gate-02", "lobby")]
    assert grid_ids(operator, {"camera": chosen}) == [other_lobby.id, lobby.id]


def test_it_filters_by_several_classes(operator: Client, search_data: SearchData) -> None:
    person = search_data.add(**minutes(0))
    car = search_data.add(label="car", track_id=track_id("lobby/3f2a9c/18"), **minutes(1))
    search_data.add(label="bicycle", track_id=track_id("lobby/3f2a9c/19"), **minutes(2))
    assert grid_ids(operator, {"label": ["person", "car"]}) == [car.id, person.id]


def test_it_filters_by_time_range(operator: Client, search_data: SearchData) -> None:
    added = [search_data.add(**minutes(n)) for n in (0, 5, 10)]
    query = {"since": local_minute(1), "until": local_minute(10)}
    assert grid_ids(operator, query) == [added[1].id]


def test_it_shows_errors_instead_of_unfiltered_results(
    operator: Client, search_data: SearchData
) -> None:
    search_data.add()
    response = operator.get("/", {"since": local_minute(10), "until": local_minute(0)})
    assert "cards" not in response.context
    assert b"must come before" in response.content
    assert b"Fix the filters above" in response.content
    assert b"No sightings yet" not in response.content


def test_it_rejects_a_class_that_never_occurred(operator: Client, search_data: SearchData) -> None:
    search_data.add()
    response = operator.get("/", {"label": "unicorn"})
    assert "cards" not in response.context
    assert b"unicorn is not one of the available choices" in response.content


def test_it_pages_through_results_keeping_the_filters(
    operator: Client, search_data: SearchData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    added = [search_data.add(**minutes(n)) for n in range(5)]
    response = operator.get("/", {"label": "person", "page": "2"})
    assert [card.detection.id for card in response.context["cards"]] == [added[2].id, added[1].id]
    html = response.content.decode()
    assert 'href="?label=person&amp;page=3" rel="next"' in html
    assert 'href="?label=person&amp;page=1" rel="prev"' in html
    assert "Page 2" in html
    # Crops open their track; their similar link keeps the filters but not the page number.
    assert f'class="thumb" href="/tracks/{added[2].track_id}/"' in html
    assert f'href="/detections/{added[2].id}/similar/?label=person"' in html
    last = operator.get("/", {"label": "person", "page": "3"})
    assert [card.detection.id for card in last.context["cards"]] == [added[0].id]
    assert b'rel="next"' not in last.content
    beyond = operator.get("/", {"label": "person", "page": "9"})
    assert beyond.context["cards"] == []
    assert b"No more sightings" in beyond.content
    for junk in ("x", "-3", "99999999999999999999"):
        assert operator.get("/", {"page": junk}).status_code == 200


def test_it_says_when_there_are_no_detections_yet(
    operator: Client, search_data: SearchData
) -> None:
    response = operator.get("/")
    assert b"No sightings yet" in response.content


def test_it_says_when_no_detection_matches(operator: Client, search_data: SearchData) -> None:
    search_data.add(**minutes(0))
    response = operator.get("/", {"since": local_minute(5)})
    assert b"No sightings match these filters" in response.content


def test_it_renders_a_page_in_a_constant_number_of_queries(
    operator: Client, search_data: SearchData
) -> None:
    search_data.add(**minutes(0))
    with CaptureQueriesContext(connection) as one:
        operator.get("/")
    for n in range(1, 6):
        search_data.add(camera_id=f"cam{n}", track_id=track_id(f"cam{n}/s/1"), **minutes(n))
    with CaptureQueriesContext(connection) as six:
        assert len(operator.get("/").context["cards"]) == 6
    assert len(six) == len(one)


def test_the_grid_shows_each_track_once_by_its_best_crop(
    operator: Client, search_data: SearchData
) -> None:
    # The edge sends an early crop of a track and better ones later: one object, one card.
    walker = track_id("lobby/walker")
    search_data.add(track_id=walker, score=0.55, **minutes(0))
    best = search_data.add(track_id=walker, score=0.91, **minutes(1))
    search_data.add(track_id=walker, score=0.70, **minutes(2))
    search_data.add(track_id=walker, score=0.91, **minutes(3))  # a tie keeps the earlier
    other = search_data.add(score=0.6, **minutes(4))
    response = operator.get("/")
    assert [card.detection.id for card in response.context["cards"]] == [other.id, best.id]
    assert [card.track.pk for card in response.context["cards"]] == [other.track_id, walker]
    html = response.content.decode()
    assert "newest first" in html
    # The card shows the sighting's time span (minutes 0 to 3) and how long it lasted.
    assert "2026-11-21 09:30:12</time> &ndash; <time" in html and "09:33:12</time>" in html
    assert "180.0 s" in html
    # A time range finds the sightings seen in it at all, each by its best crop.
    assert grid_ids(operator, {"until": local_minute(1)}) == [best.id]
    assert grid_ids(operator, {"since": local_minute(3)}) == [other.id, best.id]
    assert grid_ids(operator, {"since": local_minute(4)}) == [other.id]


def set_span(row: Detection, seconds: float) -> None:
    """Make the track of `row` last `seconds` from its crop's time."""
    Track.objects.filter(pk=row.track_id).update(last_seen=row.ts + timedelta(seconds=seconds))


def test_it_filters_by_track_duration_and_sorts_oldest_first(
    operator: Client, search_data: SearchData
) -> None:
    short, medium, long = (search_data.add(**minutes(n)) for n in range(3))
    for row, seconds in ((short, 2), (medium, 30), (long, 600)):
        set_span(row, seconds)
    assert grid_ids(operator, {"min_duration": 30}) == [long.id, medium.id]
    assert grid_ids(operator, {"max_duration": 30}) == [medium.id, short.id]
    assert grid_ids(operator, {"min_duration": 10, "max_duration": 60}) == [medium.id]
    assert grid_ids(operator, {"sort": "oldest"}) == [short.id, medium.id, long.id]
    response = operator.get("/", {"min_duration": 60, "max_duration": 10})
    assert b"must not exceed" in response.content
    assert (
        b"Ensure this value is greater than or equal to 0"
        in operator.get("/", {"min_duration": -1}).content
    )
    assert operator.get("/", {"sort": "score"}).status_code == 200  # not offered: an error
    assert "cards" not in operator.get("/", {"sort": "score"}).context


def test_it_filters_by_site_and_camera_group(
    operator: Client, search_data: SearchData, second_device: Device
) -> None:
    second_device.site = ensure_site("warehouse")
    second_device.save()
    lobby = search_data.add(**minutes(0))
    yard = search_data.add(camera_id="yard", **minutes(1))
    far = search_data.add(device_id="gate-02", **minutes(2))
    entrances = CameraGroup.objects.create(site_id="hq", name="entrances")
    entrances.cameras.add(lobby.camera_id, far.camera_id)
    assert grid_ids(operator, {"site": "hq"}) == [yard.id, lobby.id]
    assert grid_ids(operator, {"site": "warehouse"}) == [far.id]
    assert grid_ids(operator, {"group": entrances.pk}) == [far.id, lobby.id]
    # Every set filter must hold: cameras of the group that are at the site.
    assert grid_ids(operator, {"group": entrances.pk, "site": "hq"}) == [lobby.id]
    assert grid_ids(operator, {"group": entrances.pk, "camera": yard.camera_id}) == []


def test_only_visible_cameras_are_offered_and_searched(
    operator: Client, search_data: SearchData, monkeypatch: pytest.MonkeyPatch
) -> None:
    lobby = search_data.add([1, 0, 0, 0], **minutes(0))
    yard = search_data.add([1, 0, 0, 0], camera_id="yard", label="car", **minutes(1))
    monkeypatch.setattr(views, "visible_cameras", lambda request: frozenset({lobby.camera_id}))
    response = operator.get("/")
    assert [card.detection.id for card in response.context["cards"]] == [lobby.id]
    form = response.context["form"]
    assert [c.pk for c in form.fields["camera"].queryset] == [lobby.camera_id]
    assert [choice for choice, _ in form.fields["label"].choices] == ["person"]
    # Picking a hidden camera does not widen the search: it is not even a valid choice.
    assert "cards" not in operator.get("/", {"camera": yard.camera_id}).context
    assert similar_ids(operator, lobby.id) == []
    assert operator.get(f"/detections/{yard.id}/similar/").status_code == 404
    assert operator.get(f"/tracks/{yard.track_id}/").status_code == 404


def test_it_answers_503_with_a_readable_page_when_the_object_store_is_down(
    operator: Client, search_data: SearchData, monkeypatch: pytest.MonkeyPatch
) -> None:
    search_data.add()

    def unreachable() -> None:
        # What `backends.object_store()` raises when the S3 server does not answer.
        raise ObjectStoreUnavailable("S3 at 10.0.0.8:9000 did not answer")

    monkeypatch.setattr(backends, "object_store", unreachable)
    response = operator.get("/")
    assert response.status_code == 503
    assert b"The object store cannot be reached right now" in response.content
    assert b"10.0.0.8" not in response.content


# Similar objects ------------------------------------------------------------------------------


def test_it_lists_similar_objects_best_first_without_the_query_itself(
    operator: Client, search_data: SearchData
) -> None:
    query = search_data.add([1, 0, 0, 0], **minutes(0))
    opposite = search_data.add([-1, 0, 0, 0], **minutes(1))
    close = search_data.add([1, 0.1, 0, 0], **minutes(2))
    orthogonal = search_data.add([0, 1, 0, 0], **minutes(3))
    diagonal = search_data.add([1, 1, 0, 0], **minutes(4))
    response = operator.get(f"/detections/{query.id}/similar/")
    cards = response.context["cards"]
    assert [card.detection.id for card in cards] == [
        close.id,
        diagonal.id,
        orthogonal.id,
        opposite.id,
    ]
    scores = [card.similarity for card in cards]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(0.995, abs=1e-3)
    assert scores[-1] == pytest.approx(-1.0)
    html = response.content.decode()
    assert '<data value="0.995037">0.995</data>' in html
    assert html.index(close.id) < html.index(diagonal.id) < html.index(opposite.id)
    # The query crop is shown, but not as a link back to this very page.
    assert response.context["query_card"].detection.id == query.id
    assert f'class="thumb" href="/tracks/{query.track_id}/' not in html
    assert f'class="thumb" href="/tracks/{close.track_id}/' in html


def test_similar_objects_show_each_track_once_by_its_closest_crop(
    operator: Client, search_data: SearchData
) -> None:
    query_track, walker = track_id("lobby/query"), track_id("lobby/walker")
    query = search_data.add([1, 0, 0, 0], track_id=query_track, **minutes(0))
    # The query's own track is the same object: none of its other crops is a result.
    search_data.add([1, 0.01, 0, 0], track_id=query_track, **minutes(1))
    far_view = search_data.add([1, 0.5, 0, 0], track_id=walker, **minutes(2))
    close_view = search_data.add([1, 0.1, 0, 0], track_id=walker, **minutes(3))
    search_data.add([1, 0.3, 0, 0], track_id=walker, **minutes(4))
    single = search_data.add([1, 0.2, 0, 0], **minutes(5))
    cards = operator.get(f"/detections/{query.id}/similar/").context["cards"]
    assert [card.detection.id for card in cards] == [close_view.id, single.id]
    assert cards[0].similarity == pytest.approx(1 / (1 + 0.1**2) ** 0.5)
    assert far_view.id not in [card.detection.id for card in cards]


def test_similar_objects_fill_k_tracks_from_further_neighbours(
    operator: Client, search_data: SearchData, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "SIMILAR_K", 3)
    query = search_data.add([1, 0, 0, 0], **minutes(0))
    # A long track holds the 20 nearest crops: a plain k-nearest query would return it 3 times.
    lingerer = track_id("lobby/lingerer")
    for n in range(20):
        search_data.add([1, 0.01 * (n + 1), 0, 0], track_id=lingerer, **minutes(1))
    second = search_data.add([1, 0.5, 0, 0], **minutes(2))
    third = search_data.add([1, 0.6, 0, 0], **minutes(3))
    search_data.add([1, 0.7, 0, 0], **minutes(4))
    ids = similar_ids(operator, query.id)
    assert len(ids) == 3
    assert ids[1:] == [second.id, third.id]
    assert Detection.objects.get(pk=ids[0]).track_id == lingerer


def test_it_applies_the_filters_to_similar_objects(
    operator: Client, search_data: SearchData, second_device: Device
) -> None:
    query = search_data.add([1, 0, 0, 0], **minutes(0))
    search_data.add([1, 0, 0, 0], label="car", track_id=track_id("lobby/s/2"), **minutes(1))
    search_data.add([1, 0, 0, 0], camera_id="yard", track_id=track_id("yard/s/3"), **minutes(2))
    search_data.add([1, 0, 0, 0], **minutes(30))
    wanted = search_data.add([0, 1, 0, 0], device_id="gate-02", **minutes(3))
    filters = {
        "camera": [camera_pk("gate-01", "lobby"), camera_pk("gate-02", "lobby")],
        "label": "person",
        "since": local_minute(0),
        "until": local_minute(10),
    }
    assert similar_ids(operator, query.id, filters) == [wanted.id]


def test_similar_objects_sort_by_time_on_request(operator: Client, search_data: SearchData) -> None:
    query = search_data.add([1, 0, 0, 0], **minutes(0))
    old_close = search_data.add([1, 0.1, 0, 0], **minutes(1))
    new_far = search_data.add([1, 1, 0, 0], **minutes(5))
    middle = search_data.add([1, 0.5, 0, 0], **minutes(3))
    assert similar_ids(operator, query.id) == [old_close.id, middle.id, new_far.id]
    newest = [new_far.id, middle.id, old_close.id]
    assert similar_ids(operator, query.id, {"sort": "newest"}) == newest
    assert similar_ids(operator, query.id, {"sort": "oldest"}) == newest[::-1]
    assert similar_ids(operator, query.id, {"sort": "score"}) == [
        old_close.id,
        middle.id,
        new_far.id,
    ]
    # The order is the page's own: links to other pages do not carry it.
    html = operator.get(f"/detections/{query.id}/similar/", {"sort": "oldest"}).content.decode()
    assert "sort=" not in html.split('<form class="filters"')[0]


def test_it_says_when_no_similar_object_matches(operator: Client, search_data: SearchData) -> None:
    query = search_data.add([1, 0, 0, 0])
    response = operator.get(f"/detections/{query.id}/similar/")
    assert response.context["cards"] == []
    assert b"No other embedded sightings match" in response.content


def test_it_says_when_the_crop_is_not_embedded_yet(
    operator: Client, search_data: SearchData
) -> None:
    search_data.add([1, 0, 0, 0], **minutes(0))
    waiting = search_data.add(None, **minutes(1))
    response = operator.get(f"/detections/{waiting.id}/similar/")
    assert response.status_code == 200
    assert response.context["cards"] is None
    assert b"Not embedded yet" in response.content
    # The crop itself is still shown.
    assert_presigned(
        search_data.objects, response.context["query_card"].image_url, waiting.object_key
    )


def test_it_skips_vectors_whose_detection_was_deleted(
    operator: Client, search_data: SearchData
) -> None:
    query = search_data.add([1, 0, 0, 0], **minutes(0))
    deleted = search_data.add([1, 0, 0, 0], **minutes(1))
    kept = search_data.add([0, 1, 0, 0], **minutes(2))
    Detection.objects.filter(pk=deleted.id).delete()
    assert similar_ids(operator, query.id) == [kept.id]


@pytest.mark.parametrize(
    "path",
    [
        "/detections/01935f1e-0000-7000-8000-000000000000/similar/",
        "/detections/not-an-id/similar/",
        "/detections/%00/similar/",
        f"/detections/{'9' * 5000}/similar/",
        "/tracks/01935f1e-0000-7000-8000-000000000000/",
        "/tracks/01935F1E-0000-7000-8000-000000000000/",
        "/tracks/nope/",
        "/tracks/%00/",
    ],
)
def test_it_answers_a_readable_404_for_unknown_and_malformed_ids(
    operator: Client, search_data: SearchData, path: str
) -> None:
    response = operator.get(path)
    assert response.status_code == 404
    assert b"does not exist, or is not one you may see" in response.content


def test_it_answers_503_with_a_readable_page_when_the_vector_store_is_down(
    operator: Client, search_data: SearchData, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = search_data.add([1, 0, 0, 0])

    def unreachable() -> None:
        # What `backends.vector_store()` raises when Weaviate does not answer.
        raise VectorStoreUnavailable("weaviate at http://10.0.0.7:8080 did not answer within 5s")

    monkeypatch.setattr(backends, "vector_store", unreachable)
    response = operator.get(f"/detections/{query.id}/similar/")
    assert response.status_code == 503
    html = response.content.decode()
    assert "Search is unavailable" in html
    assert "The vector store cannot be reached right now" in html
    assert "10.0.0.7" not in html
    assert "Traceback" not in html


def test_it_finds_similar_objects_in_a_constant_number_of_queries(
    operator: Client, search_data: SearchData
) -> None:
    query = search_data.add([1, 0, 0, 0], **minutes(0))
    search_data.add([1, 1, 0, 0], **minutes(1))
    with CaptureQueriesContext(connection) as one:
        operator.get(f"/detections/{query.id}/similar/")
    for n in range(2, 7):
        camera = {"camera_id": f"cam{n}", "track_id": track_id(f"cam{n}/s/1")}
        search_data.add([1, n, 0, 0], **camera, **minutes(n))
    with CaptureQueriesContext(connection) as six:
        assert len(similar_ids(operator, query.id)) == 6
    assert len(six) == len(one)


# Access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/detections/01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b/similar/",
        "/tracks/01935f1e-7c4a-7d2e-9b1a-3c5d7e9f1a2b/",
    ],
)
def test_it_sends_anonymous_users_to_the_login_page(client: Client, db: None, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


# Minimum similarity, the search bar and face search links ---------------------------------------


def test_similar_objects_can_be_thresholded_by_score(
    operator: Client, search_data: SearchData
) -> None:
    query = search_data.add([1, 0, 0, 0], **minutes(0))
    close = search_data.add([1, 0.1, 0, 0], **minutes(1))
    diagonal = search_data.add([1, 1, 0, 0], **minutes(2))
    search_data.add([0, 1, 0, 0], **minutes(3))
    assert similar_ids(operator, query.id, {"min_score": "0.7"}) == [close.id, diagonal.id]
    assert similar_ids(operator, query.id, {"min_score": "0.7", "sort": "newest"}) == [
        diagonal.id,
        close.id,
    ]
    response = operator.get(f"/detections/{query.id}/similar/", {"min_score": "0.999"})
    assert response.context["cards"] == []
    assert b"at this minimum similarity" in response.content
    # Every result shows its score; the default threshold is suggested, not applied.
    html = operator.get(f"/detections/{query.id}/similar/").content.decode()
    assert html.count('class="similarity"') == 3
    assert f"From {DEFAULT_THRESHOLD:.2f} a match is the same object" in html


@pytest.mark.parametrize("value", ["high", "1.5", "-2", "nan", "inf"])
def test_a_bad_minimum_similarity_is_a_message(
    operator: Client, search_data: SearchData, value: str
) -> None:
    query = search_data.add([1, 0, 0, 0])
    response = operator.get(f"/detections/{query.id}/similar/", {"min_score": value})
    assert response.status_code == 200
    assert "cards" not in response.context
    assert b"Fix the filters above to search." in response.content
    assert response.context["form"].errors["min_score"]


def test_the_search_bar_goes_to_text_search_with_the_filters_kept(
    operator: Client, search_data: SearchData
) -> None:
    search_data.add()
    lobby = camera_pk("gate-01", "lobby")
    html = operator.get("/", {"camera": lobby, "label": "person", "page": "2"}).content.decode()
    bar = html[html.index('<form class="searchbar"') :]
    bar = bar[: bar.index("</form>")]
    assert 'action="/text/"' in bar
    assert f'<input type="hidden" name="camera" value="{lobby}">' in bar
    assert '<input type="hidden" name="label" value="person">' in bar
    assert 'name="page"' not in bar
    assert f'href="/example/?camera={lobby}&amp;label=person"' in bar
    # The text page links back to the grid with the same filters.
    text = operator.get("/text/", {"q": "person", "camera": lobby}).content.decode()
    assert f'href="/?camera={lobby}"' in text


def test_grid_cards_with_a_face_offer_face_search_in_one_query(
    operator: Client, search_data: SearchData
) -> None:
    rows = [search_data.add([1, n, 0, 0], **minutes(n)) for n in range(3)]
    Face.objects.create(detection=rows[1], x_min=0.3, y_min=0.1, x_max=0.6, y_max=0.3, score=0.9)
    with CaptureQueriesContext(connection) as queries:
        html = operator.get("/").content.decode()
    assert len([q for q in queries.captured_queries if "faces_face" in q["sql"]]) == 1
    assert html.count('class="same-face"') == 1
    assert f'href="/detections/{rows[1].id}/faces/"' in html
    similar = operator.get(f"/detections/{rows[0].id}/similar/").content.decode()
    assert f'href="/detections/{rows[1].id}/faces/"' in similar
