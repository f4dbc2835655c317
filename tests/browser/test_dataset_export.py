"""A labeler exports a YOLO dataset in a real browser: picks a label and the options, sees the
export queued, and, once a worker has built it, the page (reloading itself) offers the
download, which is the zip. The crops are real vtest.avi crops with real context frames,
labelled as in `tests.cloud.datasets.footage`."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import pytest
import yaml
from django.db import connections
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from cloud import backends
from cloud.access.models import Role
from cloud.datasets.tasks import build_export
from cloud.fleet.models import Device, HardwareProfile
from cloud.fleet.registry import ensure_site
from cloud.lib.objectstore.local import LocalObjectStore, LocalObjectStoreSettings
from tests.browser.conftest import log_in
from tests.cloud.datasets.footage import store_footage
from tests.users import make_user

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "correct horse battery"


@pytest.fixture
def labelled(live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The footage's crops and marks in a local object store, and a labeler who sees all."""
    objects = LocalObjectStore(
        LocalObjectStoreSettings(type="local", root=tmp_path / "objects", url_signing_key="d" * 32)
    )
    objects.ensure_bucket()
    monkeypatch.setattr(backends, "object_store", lambda: objects)
    Device.objects.create(
        id="gate-01", site=ensure_site("hq"), hardware_profile=HardwareProfile.X86_CPU
    )
    store_footage(objects)
    make_user("lena", Role.LABELER, password=PASSWORD)


def run_worker(export_id: str) -> None:
    """What a Celery worker does with the queued task, in a thread of its own (the browser's
    event loop runs in the test's thread, where Django refuses database calls)."""

    def work() -> None:
        try:
            build_export(export_id)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=60)


def test_a_labeler_exports_a_yolo_dataset_and_downloads_it(
    live_server: LiveServer, labelled: None, page: Page, tmp_path: Path, screenshots: Path
) -> None:
    log_in(page, f"{live_server.url}/", "lena", PASSWORD)
    page.get_by_role("link", name="Datasets").click()
    page.get_by_label("walker").check()
    page.get_by_label("YOLO").check()
    page.get_by_label("Add hard negatives").check()
    page.screenshot(path=screenshots / "dataset-0-form.png", full_page=True)
    page.get_by_role("button", name="Export").click()

    state = page.locator("#export-state")
    expect(state).to_have_attribute("data-state", "queued")
    expect(state.locator("progress")).to_be_visible()
    run_worker(page.url.rstrip("/").rpartition("/")[2])
    # No click: the page reloads itself until the export is done.
    expect(state).to_have_attribute("data-state", "done", timeout=10_000)
    expect(state).to_contain_text("Ready: 3 images, 3 boxes")
    page.screenshot(path=screenshots / "dataset-1-ready.png", full_page=True)
    with page.expect_download() as download:
        page.locator("#download").click()
    path = tmp_path / "dataset.zip"
    download.value.save_as(path)

    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        data = yaml.safe_load(archive.read("data.yaml"))
    assert data["names"] == {0: "walker"}
    assert len([name for name in names if name.endswith(".jpg")]) == 3
