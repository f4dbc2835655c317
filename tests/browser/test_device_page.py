"""The device page in a real browser: its alerts, and its charts drawn from the series endpoint.

Heartbeat samples of a device with two cameras over the last half hour, one of them slowing
down and the outbox dropping rows midway; the charts must draw a line per series from those
samples, redraw for another range, and the fleet page must link to the device and list its
open alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud.fleet.models import Device, DeviceStatus, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.monitoring.models import Alert, AlertKind, HeartbeatSample
from tests.cloud.monitoring.samples import stored
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct horse battery"
SAMPLES = 360  # half an hour of 5 s heartbeats


@pytest.fixture
def seeded(live_server: LiveServer) -> Iterator[None]:
    Device.objects.create(
        id="yard-01", name="Yard", site=ensure_site("hq"),
        hardware_profile=HardwareProfile.JETSON_ORIN, status=DeviceStatus.ONLINE,
        agent_version="0.2.0",
    )  # fmt: skip
    make_user("operator", password=PASSWORD)
    now = timezone.now()
    for n in range(SAMPLES):
        slow = n >= SAMPLES // 2
        gate_fps = 2.0 if slow else 5.0
        stored(
            "yard-01", n + 1, now - timedelta(seconds=5 * (SAMPLES - n)),
            cameras={"lobby": [25.0, 5.0, 5.0, 20.0, 31.0, 4],
                     "gate": [25.0, gate_fps, 5.0, 60.0 if slow else 22.0, 90.0, 2]},
            dropped_total=12 * max(0, n - SAMPLES // 2), outbox_rows=40,
        )  # fmt: skip
    Alert.objects.create(
        device_id="yard-01", kind=AlertKind.LAGGING, raised_at=now - timedelta(minutes=14),
        detail="a camera runs its detector at 40% of its configured rate",
    )  # fmt: skip
    assert HeartbeatSample.objects.count() == SAMPLES
    yield


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/devices/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/devices/")


def test_the_device_page_draws_its_history_in_the_browser(
    live_server: LiveServer, seeded: None, page: Page, screenshots: Path
) -> None:
    log_in(page, live_server.url)
    alerts = page.locator(".fleet-alerts li")
    expect(alerts).to_have_count(1)
    expect(alerts.first).to_contain_text("Lagging")
    page.get_by_role("link", name="yard-01").first.click()
    expect(page.get_by_role("heading", name="yard-01 (Yard)")).to_be_visible()
    expect(page.locator(".alerts-open li")).to_contain_text("40% of its configured rate")

    charts = page.locator("figure.chart")
    expect(charts).to_have_count(3)
    for metric in ("fps", "latency", "drops"):
        expect(page.locator(f'figure[data-metric="{metric}"]')).to_have_attribute(
            "data-state", "drawn"
        )
    fps = page.locator('figure[data-metric="fps"] path[data-series]')
    names = sorted(fps.evaluate_all("paths => paths.map(p => p.dataset.series)"))
    assert names == ["gate fps", "gate target", "lobby fps", "lobby target"]
    points = fps.evaluate_all("paths => paths.map(p => Number(p.dataset.points))")
    assert all(count == SAMPLES for count in points), points
    # Every line is drawn, not just declared: a path with real extent.
    widths = fps.evaluate_all("paths => paths.map(p => p.getBBox().width)")
    assert all(width > 300 for width in widths), widths
    drops = page.locator('figure[data-metric="drops"] .chart-legend li')
    expect(drops.first).to_contain_text("dropped: 2148 rows")
    page.screenshot(path=screenshots / "device-page.png", full_page=True)

    # Another range redraws every chart from the endpoint.
    page.get_by_role("button", name="6 h").click()
    expect(page.get_by_role("button", name="6 h")).to_have_attribute("aria-pressed", "true")
    expect(page.locator('figure[data-metric="latency"]')).to_have_attribute("data-state", "drawn")
