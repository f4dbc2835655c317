"""Text search in a real browser, on real vtest.avi crops analysed by the colour analyser.

The crops (tests/cloud/attributes/vtest_people.py, colours checked by eye) are recorded as
ingest records them and analysed as the embed worker does; a user logs in, types a description
into the text page and the test checks what the browser rendered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pydantic import SecretStr
from pytest_django.live_server_helper import LiveServer

from cloud import backends
from cloud.attributes.analyser import ColourAnalyser
from cloud.detections.models import Detection
from cloud.detections.services import NewDetection, record_detection
from cloud.embeddings.embedder import decode_jpeg
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from tests.browser.conftest import log_in
from tests.browser.test_search import natural_widths
from tests.cloud.attributes.vtest_people import ALL, detection
from tests.models.built_models import require_model
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct horse battery"


def from_gate(**fields: Any) -> NewDetection:
    return NewDetection(
        device_id="gate-01",
        camera_id="lobby",
        score=0.82,
        model_name="nanodet-g",
        model_version="1",
        **fields,
    )


@pytest.fixture
def seeded(live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The analysed vtest.avi crops, in the store the live server uses, and a user."""
    require_model("minilm-l6")
    objects = LocalObjectStore(
        LocalObjectStoreSettings(
            type="local", root=tmp_path / "objects", url_signing_key=SecretStr("t" * 32)
        )
    )
    objects.ensure_bucket()
    # The live server runs in a thread of this process, so it sees this store too.
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    Device.objects.create(
        id="gate-01", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    make_user("operator", password=PASSWORD)
    for item in ALL:
        record_detection(detection(item, from_gate), objects)
    rows = Detection.objects.all()
    ColourAnalyser().analyse([(row, decode_jpeg(objects.get(row.object_key))) for row in rows])


def test_a_description_finds_the_people_it_describes_in_a_real_browser(
    live_server: LiveServer, seeded: None, page: Page, screenshots: Path
) -> None:
    log_in(page, f"{live_server.url}/text/", "operator", PASSWORD)
    expect(page.get_by_role("heading", name="Text search")).to_be_visible()

    page.get_by_label("Describe what to find").fill("man in a red jacket")
    page.get_by_role("button", name="Search").click()

    expect(page.locator(".understood")).to_have_text("Understood as: person, upper body red")
    results = page.locator("ol.ranked > li")
    # The red-top woman (frame 450: 45 s in) before the red-and-navy man (frame 570: 57 s in).
    expect(results).to_have_count(2)
    expect(results.first.locator("time").first).to_contain_text(":00:45")
    expect(results.last.locator("time").first).to_contain_text(":00:57")
    assert all(width > 0 for width in natural_widths(page, "ol.ranked img"))
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=screenshots / "text-search.png", full_page=True)

    page.get_by_label("Describe what to find").fill("zxqv <b>")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing in 'zxqv <b>'")
    expect(results).to_have_count(0)
