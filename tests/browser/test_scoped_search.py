"""A viewer scoped to one camera group, in a real browser: the grid and the similar page load
every crop they show, and none of another group's, even where that crop is the nearest match;
another group's detection is "not found".

Checked by the crops' object keys in the images' URLs and by URL names, so the journey holds
whatever the search pages' layout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud import backends
from cloud.detections.models import Detection
from cloud.fleet.models import Camera, CameraGroup, Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from cloud.lib.vectorstore.embedded import EmbeddedVectorStore, EmbeddedVectorStoreSettings
from tests.browser.conftest import log_in
from tests.cloud.conftest import PEDESTRIAN
from tests.cloud.search.data import DIMENSION, SearchData, track_id, vtest_crop_jpeg
from tests.users import make_user

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"


@pytest.fixture
def crops(
    transactional_db: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Detection]]:
    """Lobby crops (group hq/entrances, granted to "door") and a yard crop (hq/outside) that
    is the nearest match of the lobby's query crop; real vtest.avi pixels in every crop."""
    objects = LocalObjectStore(
        LocalObjectStoreSettings(type="local", root=tmp_path / "objects", url_signing_key="k" * 32)
    )
    objects.ensure_bucket()
    vectors = EmbeddedVectorStore(
        EmbeddedVectorStoreSettings(path=tmp_path / "vectors.sqlite3"), dimension=DIMENSION
    )
    vectors.ensure_collection()
    # The live server runs in a thread of this process, so it sees these stores too.
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    monkeypatch.setattr(backends, "vector_store", lambda: vectors)
    Device.objects.create(
        id=PEDESTRIAN.device_id, site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    data = SearchData(
        objects, vectors, lambda **c: dataclasses.replace(PEDESTRIAN, **c), vtest_crop_jpeg()
    )
    rows = {
        "query": data.add([1, 0, 0, 0]),
        "lobby": data.add([0.5, 0.5, 0, 0]),
        "yard": data.add([1, 0.05, 0, 0], camera_id="yard", track_id=track_id("yard/1")),
    }
    entrances = CameraGroup.objects.create(site_id="hq", name="entrances")
    entrances.cameras.add(Camera.objects.get(edge_id="lobby"))
    CameraGroup.objects.create(site_id="hq", name="outside").cameras.add(
        Camera.objects.get(edge_id="yard")
    )
    make_user("door", all_sites=False, groups=[entrances], password=PASSWORD)
    yield rows
    vectors.close()


def shown_keys(page: Page, rows: dict[str, Detection]) -> set[str]:
    """Which of `rows` the page shows a crop of, after checking every image loaded."""
    images = page.locator("img")
    expect(images.first).to_be_visible()
    # Visible is not loaded: wait until every image finished, then check none failed.
    page.wait_for_function("[...document.images].every(img => img.complete)")
    loaded: list[bool] = images.evaluate_all(
        "els => els.map(e => e.complete && e.naturalWidth > 0)"
    )
    assert all(loaded), loaded
    sources = " ".join(images.evaluate_all("els => els.map(e => e.getAttribute('src'))"))
    return {name for name, row in rows.items() if row.object_key in sources}


def test_a_scoped_viewer_never_sees_another_group_s_crops(
    live_server: LiveServer, crops: dict[str, Detection], page: Page, screenshots: Path
) -> None:
    grid = live_server.url + reverse("search:detections")
    log_in(page, grid, "door", PASSWORD)
    assert shown_keys(page, crops) == {"query", "lobby"}
    page.screenshot(path=screenshots / "scoped-viewer-grid.png", full_page=True)

    page.goto(live_server.url + reverse("search:similar", args=[crops["query"].id]))
    assert shown_keys(page, crops) == {"query", "lobby"}
    page.screenshot(path=screenshots / "scoped-viewer-similar.png", full_page=True)

    response = page.goto(live_server.url + reverse("search:similar", args=[crops["yard"].id]))
    assert response is not None
    assert response.status == 404
    assert crops["yard"].object_key not in page.content()
    assert crops["yard"].id not in page.content()
