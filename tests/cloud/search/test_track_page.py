"""The track page: a sighting's crops, its scene with the box and path, its time span, and
similar sightings on other cameras on a timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from cloud import backends
from cloud.detections.models import Track
from cloud.detections.services import PathPoint, record_track_summary
from cloud.faces.models import Face
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.search.results import CropCard
from cloud.search.track_page import MAX_TICKS, tick_step, timeline
from tests.cloud.search.data import SearchData, track_id
from tests.users import make_user

T0 = datetime(2026, 11, 21, 9, 30, 12, 400000, tzinfo=UTC)
CONTEXT = b"\xff\xd8 the whole lobby \xff\xd9"


@pytest.fixture
def operator(client: Client, db: None) -> Client:
    client.force_login(make_user("operator"))
    return client


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_it_shows_the_scene_with_the_box_and_the_path_and_the_time_span(
    operator: Client, search_data: SearchData
) -> None:
    walker = track_id("lobby/walker")
    early = search_data.add([1, 0, 0, 0], track_id=walker, score=0.6, ts=at(0))
    best = search_data.add(
        [1, 0.1, 0, 0], track_id=walker, score=0.9, ts=at(4), context_jpeg=CONTEXT
    )
    record_track_summary(
        "gate-01",
        camera_id="lobby",
        track_id=walker,
        label="person",
        first_seen=at(-1),
        last_seen=at(9.5),
        path=[PathPoint(at(0), 0.1, 0.5), PathPoint(at(4), 0.5, 0.55), PathPoint(at(9), 0.9, 0.6)],
    )
    response = operator.get(f"/tracks/{walker}/")
    assert response.status_code == 200
    html = response.content.decode()
    # The context frame, presigned, with the best crop's box and the path over it.
    overlay = response.context["overlay"]
    key = f"contexts/gate-01/lobby/2026/11/21/{best.id}.jpg"
    assert key in overlay.image_url
    assert search_data.objects.get(key) == CONTEXT
    assert overlay.box == pytest.approx(
        (412 / 768 * 1000, 180.5 / 576 * 1000, 56 / 768 * 1000, 150.5 / 576 * 1000)
    )
    assert 'points="100.0,500.0 500.0,550.0 900.0,600.0"' in html
    assert re.search(r'<rect class="box" x="536\.5" y="313\.4" width="72\.9" height="261\.3"', html)
    # First and last seen come from the summary; the duration is their difference.
    assert 'datetime="2026-11-21T09:30:11.400000+00:00"' in html
    assert "10.5 s" in html
    # Every crop, in time order.
    assert [card.detection.id for card in response.context["cards"]] == [early.id, best.id]


def test_without_a_context_frame_or_path_it_says_so(
    operator: Client, search_data: SearchData
) -> None:
    row = search_data.add([1, 0, 0, 0])
    response = operator.get(f"/tracks/{row.track_id}/")
    assert response.status_code == 200
    assert response.context["overlay"] is None
    assert b"No view of the whole scene was sent" in response.content


def test_a_context_frame_of_another_crop_is_shown_when_the_best_has_none(
    operator: Client, search_data: SearchData
) -> None:
    walker = track_id("lobby/walker")
    framed = search_data.add(track_id=walker, score=0.5, context_jpeg=CONTEXT, ts=at(0))
    search_data.add(track_id=walker, score=0.9, ts=at(1))
    overlay = operator.get(f"/tracks/{walker}/").context["overlay"]
    assert framed.id in overlay.image_url
    assert overlay.path == ""  # no summary sent a path


def test_similar_sightings_on_other_cameras_are_on_the_timeline(
    operator: Client, search_data: SearchData
) -> None:
    this = search_data.add([1, 0, 0, 0], ts=at(60))
    search_data.add([1, 0.01, 0, 0], ts=at(0))  # the same camera: not on the timeline
    earlier = search_data.add([1, 0.2, 0, 0], camera_id="yard", ts=at(0))
    later = search_data.add([1, 0.1, 0, 0], camera_id="gate", ts=at(120))
    response = operator.get(f"/tracks/{this.track_id}/")
    rows = response.context["timeline"].rows
    assert [row.card.track.pk for row in rows] == [earlier.track_id, this.track_id, later.track_id]
    assert [row.is_this for row in rows] == [False, True, False]
    assert [round(row.left) for row in rows] == [0, 50, 99]
    html = response.content.decode()
    assert f'href="/tracks/{later.track_id}/"' in html
    assert "This sighting" in html


def test_it_says_when_the_best_crop_is_not_embedded_yet(
    operator: Client, search_data: SearchData
) -> None:
    row = search_data.add(None)
    response = operator.get(f"/tracks/{row.track_id}/")
    assert "timeline" not in response.context
    assert b"No crop of this sighting is embedded yet" in response.content


def test_the_page_still_shows_the_track_when_the_vector_store_is_down(
    operator: Client, search_data: SearchData, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = search_data.add([1, 0, 0, 0])

    def unreachable() -> None:
        raise VectorStoreUnavailable("weaviate at http://10.0.0.7:8080 did not answer")

    monkeypatch.setattr(backends, "vector_store", unreachable)
    response = operator.get(f"/tracks/{row.track_id}/")
    assert response.status_code == 200
    assert b"Similar sightings cannot be searched right now" in response.content
    assert b"10.0.0.7" not in response.content
    assert [card.detection.id for card in response.context["cards"]] == [row.id]


def test_a_track_without_crops_yet_has_a_page(operator: Client, search_data: SearchData) -> None:
    walker = track_id("lobby/summary-only")
    record_track_summary(
        "gate-01", camera_id="lobby", track_id=walker, label="car", first_seen=T0, last_seen=T0
    )
    response = operator.get(f"/tracks/{walker}/")
    assert response.status_code == 200
    assert b"No crop of this sighting has arrived yet" in response.content
    assert Track.objects.get().best_detection is None


def test_timeline_bars_stay_inside_the_axis(search_data: SearchData) -> None:
    rows = [search_data.add([1, 0, 0, 0], ts=at(n)) for n in (0, 3600)]
    tracks = Track.objects.in_bulk([row.track_id for row in rows])
    cards = [CropCard(tracks[row.track_id], row, "u") for row in rows]
    axis = timeline(cards, cards[0])
    assert (axis.start, axis.end) == (at(0), at(3600))
    first, last = axis.rows
    assert (first.left, first.is_this) == (0, True)
    assert last.left + last.width == pytest.approx(100)  # a one-frame sighting at the very end


def test_the_timeline_searches_by_the_whole_track(
    operator: Client, search_data: SearchData
) -> None:
    """A sighting like only the track's later crop is found: the query is the mean of the
    track's crops, not its best crop alone."""
    walker = track_id("lobby/turning")
    search_data.add([1, 0, 0, 0], track_id=walker, score=0.9, ts=at(0))
    search_data.add([0, 1, 0, 0], track_id=walker, score=0.5, ts=at(2))
    like_the_turn = search_data.add([0, 1, 0, 0], camera_id="yard", ts=at(30))
    response = operator.get(f"/tracks/{walker}/")
    others = [row.card for row in response.context["timeline"].rows if not row.is_this]
    assert [card.track.pk for card in others] == [like_the_turn.track_id]
    # The mean of (1, 0) and (0, 1) against (0, 1): cos 45 degrees.
    assert others[0].similarity == pytest.approx(0.7071, abs=1e-3)


def test_the_timeline_axis_has_ticks_at_round_times(search_data: SearchData) -> None:
    rows = [search_data.add([1, 0, 0, 0], ts=at(n)) for n in (0, 130)]
    tracks = Track.objects.in_bulk([row.track_id for row in rows])
    cards = [CropCard(tracks[row.track_id], row, "u") for row in rows]
    axis = timeline(cards, cards[0])
    # 130 s fit six ticks at 30 s steps: 09:30:30, 09:31:00, ... 09:32:00 (T0 is 09:30:12.4).
    assert axis.step == timedelta(seconds=30)
    assert [tick.moment.strftime("%H:%M:%S") for tick in axis.ticks] == [
        "09:30:30",
        "09:31:00",
        "09:31:30",
        "09:32:00",
    ]
    assert axis.ticks[0].left == pytest.approx(100 * 17.6 / 130)
    assert not axis.spans_days


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (timedelta(seconds=1), timedelta(seconds=1)),
        (timedelta(minutes=5), timedelta(minutes=1)),
        (timedelta(hours=5), timedelta(hours=1)),
        (timedelta(days=3), timedelta(hours=12)),
        (timedelta(days=400), timedelta(weeks=10)),
    ],
)
def test_tick_steps_are_round_and_few(span: timedelta, step: timedelta) -> None:
    assert tick_step(span) == step
    assert span / tick_step(span) <= MAX_TICKS


def test_crops_with_a_face_offer_face_search(operator: Client, search_data: SearchData) -> None:
    row = search_data.add([1, 0, 0, 0])
    Face.objects.create(detection=row, x_min=0.3, y_min=0.1, x_max=0.6, y_max=0.3, score=0.9)
    response = operator.get(f"/tracks/{row.track_id}/")
    assert f'href="/detections/{row.id}/faces/"' in response.content.decode()
