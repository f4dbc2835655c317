"""One analyst's search in a real browser, as a viewer scoped to one camera group: a text
query from the grid's search bar, a result's track (the scene with the box and the path), the
similar objects above a minimum similarity, then an uploaded frame and one object picked in it.

The lobby camera (group "entrances", the viewer's) saw vtest.avi's frame-0 and frame-3
objects; the yard camera (group "outside") saw the same frame-3 crops, so at every step the
yard's crops are among the nearest matches. At every step the page must load every crop it
shows and none of the yard's (checked by the crops' object keys and detection ids).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pytest_django.fixtures import Settings
from pytest_django.live_server_helper import LiveServer

from cloud.attributes.analyser import ColourAnalyser
from cloud.detections.models import Detection
from cloud.detections.services import PathPoint, record_detection, record_track_summary
from cloud.embeddings.embedder import decode_jpeg
from cloud.embeddings.services import embed_detections
from cloud.fleet.models import Camera, CameraGroup, Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.ingest.crops import parse_upload
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from tests.browser.conftest import log_in
from tests.browser.test_scoped_search import shown_keys
from tests.cloud.faces.photos import jpeg
from tests.cloud.faces.stores import configured_stores
from tests.cloud.ingest.footage import OBJECTS, vtest_frame
from tests.cloud.ingest.uploads import crop_request
from tests.models.built_models import require_model
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct horse battery"
MIN_SCORE = 0.5


@pytest.fixture
def crops(
    live_server: LiveServer, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Detection]]:
    """Every crop by name ("lobby/woman/3", "yard/van/3"), embedded and colour-analysed; the
    lobby's tracks have a context frame and a path."""
    require_model("minilm-l6")
    objects = LocalObjectStore(
        LocalObjectStoreSettings(type="local", root=tmp_path / "objects", url_signing_key="j" * 32)
    )
    objects.ensure_bucket()
    Device.objects.create(
        id="gate-01", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    with configured_stores(tmp_path, objects, settings, monkeypatch):
        rows: dict[str, Detection] = {}
        for camera, items in (("lobby", OBJECTS), ("yard", OBJECTS[4:])):
            for item in items:
                new = parse_upload(crop_request(item, camera_id=camera))
                if camera == "lobby":
                    new = dataclasses.replace(new, context_jpeg=jpeg(vtest_frame(item.frame)))
                    x = (new.x_min + new.x_max) / 2
                    record_track_summary(
                        "gate-01",
                        camera_id=camera,
                        track_id=new.track_id,
                        label=new.label,
                        first_seen=new.ts - timedelta(seconds=2),
                        last_seen=new.ts,
                        path=[
                            PathPoint(new.ts - timedelta(seconds=2), x - 0.05, new.y_max),
                            PathPoint(new.ts, x, new.y_max),
                        ],
                    )
                record_detection(new, objects)
                rows[f"{camera}/{item.name}/{item.frame}"] = Detection.objects.get(pk=new.id)
        embed_detections([row.id for row in rows.values()])
        ColourAnalyser().analyse(
            [(row, decode_jpeg(objects.get(row.object_key))) for row in rows.values()]
        )
        entrances = CameraGroup.objects.create(site_id="hq", name="entrances")
        entrances.cameras.add(Camera.objects.get(edge_id="lobby"))
        outside = CameraGroup.objects.create(site_id="hq", name="outside")
        outside.cameras.add(Camera.objects.get(edge_id="yard"))
        make_user("door", all_sites=False, groups=[entrances], password=PASSWORD)
        yield rows


def only_the_lobby(page: Page, crops: dict[str, Detection]) -> set[str]:
    """The crops the page shows, after checking that none is the yard's."""
    # Crops below the fold load lazily: load them all, and wait until they have.
    page.evaluate("document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; })")
    page.wait_for_function("[...document.images].every(img => img.complete)")
    shown = shown_keys(page, crops)
    assert shown, "no crop of the seeded ones is shown"
    assert all(name.startswith("lobby/") for name in shown), shown
    html = page.content()
    assert not [name for name, row in crops.items() if name.startswith("yard/") and row.id in html]
    return shown


def test_a_scoped_analyst_searches_by_text_track_similarity_and_image(
    live_server: LiveServer,
    crops: dict[str, Detection],
    page: Page,
    tmp_path: Path,
    screenshots: Path,
) -> None:
    log_in(page, f"{live_server.url}/", "door", PASSWORD)
    only_the_lobby(page, crops)
    page.screenshot(path=screenshots / "journey-0-grid.png", full_page=True)
    page.get_by_label("Describe what to find").fill("person")
    page.get_by_role("button", name="Search text").click()
    expect(page.get_by_role("heading", name="Text search")).to_be_visible()
    expect(page.locator(".understood")).to_contain_text("person")
    expect(page.locator("ol.ranked > li")).to_have_count(6)  # the lobby's six person tracks
    only_the_lobby(page, crops)
    page.screenshot(path=screenshots / "journey-1-text.png", full_page=True)

    page.locator("ol.ranked > li a.thumb").first.click()
    expect(page.locator(".scene-frame img")).to_be_visible()
    expect(page.locator(".overlay rect.box")).to_have_count(1)
    expect(page.locator(".overlay polyline.path")).to_have_count(1)
    only_the_lobby(page, crops)
    page.screenshot(path=screenshots / "journey-2-track.png", full_page=True)

    page.locator("ul.crops > li").first.get_by_role("link", name="Similar objects").click()
    expect(page.get_by_role("heading", name="Similar objects")).to_be_visible()
    page.get_by_label("Minimum similarity").fill(str(MIN_SCORE))
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator(".summary")).to_contain_text(f"at least {MIN_SCORE}")
    scores = [
        float(value)
        for value in page.locator("ol.ranked .similarity data").evaluate_all(
            "els => els.map(e => e.getAttribute('value'))"
        )
    ]
    assert scores and min(scores) >= MIN_SCORE
    assert len(scores) == page.locator("ol.ranked > li").count()  # a score on every result
    only_the_lobby(page, crops)
    page.screenshot(path=screenshots / "journey-3-similar.png", full_page=True)

    frame = tmp_path / "frame.jpg"
    frame.write_bytes(jpeg(vtest_frame(3)))
    page.get_by_role("link", name="Search by image").click()
    page.get_by_label("Photo or video frame").set_input_files(str(frame))
    page.get_by_role("button", name="Upload and detect").click()
    expect(page.get_by_role("heading", name="Objects found")).to_be_visible()
    page.locator(".choices a[title='Find objects like this one']").first.click()
    expect(page.get_by_role("heading", name="Objects like the uploaded one")).to_be_visible()
    # The minimum similarity came along from the similar page.
    expect(page.get_by_label("Minimum similarity")).to_have_value(str(MIN_SCORE))
    results = page.locator("ol.ranked > li")
    expect(results.first).to_be_visible()
    only_the_lobby(page, crops)
    page.screenshot(path=screenshots / "journey-4-image.png", full_page=True)
