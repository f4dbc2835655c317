"""The device page with its alerts and charts, and the charts' JSON series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cloud.fleet.models import Device
from cloud.fleet.registry import ensure_site
from cloud.monitoring.models import Alert, AlertKind, HealthRollup
from cloud.monitoring.series import MAX_POINTS, thin
from cloud.monitoring.views import BadQuery, parse_since
from tests.cloud.monitoring.samples import stored
from tests.users import make_user

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(db: None) -> Client:
    user = make_user("operator")
    logged_in = Client()
    logged_in.force_login(user)
    return logged_in


@pytest.fixture
def device(db: None) -> Device:
    return Device.objects.create(
        id="cam-a", name="Yard", hardware_profile="x86-cpu", site=ensure_site("hq")
    )


def test_the_series_hold_each_camera_s_figures_over_time(client: Client, device: Device) -> None:
    now = timezone.now()
    stored("cam-a", 1, now - timedelta(minutes=2), cameras={"lobby": [25, 4.0, 5.0, 20, 35, 3]})
    stored("cam-a", 2, now - timedelta(minutes=1), cameras={"lobby": [25, 5.0, 5.0, None, None, 0]},
           dropped_total=4, dead_letters_total=1, outbox_rows=30)  # fmt: skip
    stored("cam-a", 3, now - timedelta(hours=2))  # outside the default hour
    fps = client.get("/devices/cam-a/series.json", {"metric": "fps"}).json()
    assert (fps["metric"], fps["unit"]) == ("fps", "frames/s")
    series = {s["name"]: [value for _, value in s["points"]] for s in fps["series"]}
    assert series == {"lobby fps": [4.0, 5.0], "lobby target": [5.0, 5.0]}
    latency = client.get("/devices/cam-a/series.json", {"metric": "latency", "since": "3h"}).json()
    series = {s["name"]: [value for _, value in s["points"]] for s in latency["series"]}
    assert series == {"lobby p50": [20.0, 20, None], "lobby p95": [30.0, 35, None]}
    drops = client.get("/devices/cam-a/series.json", {"metric": "drops"}).json()
    series = {s["name"]: [value for _, value in s["points"]] for s in drops["series"]}
    assert series == {"dropped": [0, 4], "dead letters": [0, 1], "outbox rows": [0, 30]}


def test_older_ranges_come_from_the_rollups(client: Client, device: Device) -> None:
    now = timezone.now()
    HealthRollup.objects.create(
        device=device, bucket_start=now - timedelta(days=3), samples=60, infer_fps=4.2,
        detections=0, errors_total=0, outbox_rows=0, dropped_total=7, dead_letters_total=0,
        disk_free_bytes=0,
    )  # fmt: skip
    stored("cam-a", 1, now - timedelta(minutes=1))
    fps = client.get("/devices/cam-a/series.json", {"metric": "fps", "since": "7d"}).json()
    names = {s["name"]: len(s["points"]) for s in fps["series"]}
    assert names == {"all cameras fps": 1, "lobby fps": 1, "lobby target": 1}


@pytest.mark.parametrize(
    ("query", "status", "problem"),
    [
        ({}, 400, "metric: one of fps, latency, drops"),
        ({"metric": "cpu"}, 400, "metric"),
        ({"metric": "fps", "since": "yesterday"}, 400, "neither an ISO 8601 time"),
        ({"metric": "fps", "since": "2026-11-27T09:00:00"}, 400, "time zone"),
        ({"metric": "fps", "since": "2999-01-01T00:00:00Z"}, 400, "future"),
    ],
)
def test_bad_queries_get_a_clear_error(
    client: Client, device: Device, query: dict[str, str], status: int, problem: str
) -> None:
    response = client.get("/devices/cam-a/series.json", query)
    assert response.status_code == status
    assert problem in response.json()["error"]


def test_unknown_devices_and_anonymous_users_get_nothing(client: Client, device: Device) -> None:
    assert client.get("/devices/ghost/series.json", {"metric": "fps"}).status_code == 404
    assert client.get("/devices/ghost/").status_code == 404
    anonymous = Client().get("/devices/cam-a/series.json", {"metric": "fps"})
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_since_takes_spans_and_times_and_caps_the_range() -> None:
    assert parse_since("90s", NOW) == NOW - timedelta(seconds=90)
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("2026-11-27T09:00:00+00:00", NOW) == datetime(2026, 11, 27, 9, tzinfo=UTC)
    assert parse_since("999999d", NOW) == NOW - timedelta(days=366)
    with pytest.raises(BadQuery):
        parse_since("-5m", NOW)


def test_thinning_keeps_at_most_the_limit_and_never_hides_a_loss() -> None:
    # A counter that steps up once, at an odd place: the run holding the step keeps it.
    points: list[tuple[int, float | None]] = [(n, float(n >= 1001)) for n in range(3 * MAX_POINTS)]
    thinned = thin(points, max)
    assert len(thinned) == MAX_POINTS
    assert thinned[333] == (999, 1.0)  # the run 999-1001
    assert thinned[332] == (996, 0.0)
    assert thin([(1, None), (2, None), (3, 1.0)], max, most=2) == [(1, None), (3, 1.0)]


def test_the_device_page_shows_alerts_and_the_charts(client: Client, device: Device) -> None:
    Alert.objects.create(device=device, kind=AlertKind.LAGGING, detail="a camera at 40%",
                         raised_at=NOW)  # fmt: skip
    Alert.objects.create(device=device, kind=AlertKind.OFFLINE, detail="no heartbeat for 60 s",
                         raised_at=NOW - timedelta(hours=1), resolved_at=NOW)  # fmt: skip
    page = client.get("/devices/cam-a/").content.decode()
    assert "a camera at 40%" in page and "no heartbeat for 60 s" in page
    assert 'data-series-url="/devices/cam-a/series.json"' in page
    assert page.count('class="chart"') == 3
    assert "monitoring/charts.js" in page
    fleet = client.get("/devices/").content.decode()
    assert "Open alerts (1)" in fleet
    assert 'href="/devices/cam-a/"' in fleet
