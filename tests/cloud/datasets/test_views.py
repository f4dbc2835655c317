"""The export pages: a labeler asks for an export, the task builds it, the page shows its
progress and then the download, which is the creator's alone."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.test import Client

from cloud.access.models import Role
from cloud.datasets.models import DatasetExport
from cloud.datasets.tasks import build_export
from cloud.detections.models import Detection
from tests.users import make_user

FORM = {"format": "yolo", "val_fraction": "0.2", "hard_negatives": "on"}


def client_of(name: str, role: Role) -> Client:
    client = Client()
    client.force_login(make_user(name, role))
    return client


def ask(client: Client, **changes: Any) -> DatasetExport:
    """Post the form for the walker label; return the export it queued."""
    from cloud.labels.models import Label

    walker = Label.objects.get(name="walker")
    response = client.post("/datasets/", {**FORM, "labels": [walker.pk], **changes})
    export = DatasetExport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/datasets/{export.pk}/"
    return export


def test_a_labeler_exports_and_downloads_a_dataset(footage: dict[str, Detection]) -> None:
    labeler = client_of("lena", Role.LABELER)
    export = ask(labeler)

    queued = labeler.get(f"/datasets/{export.pk}/")
    assert queued.context["working"] and b'http-equiv="refresh"' in queued.content
    build_export(str(export.pk))  # what the worker runs
    page = labeler.get(f"/datasets/{export.pk}/")
    download = labeler.get(f"/datasets/{export.pk}/download/")
    archive = labeler.get(download["Location"])

    export.refresh_from_db()
    assert export.state == DatasetExport.State.DONE
    assert (export.images, export.boxes, export.done, export.total) == (3, 3, 3, 3)
    assert export.object_key.startswith(f"datasets/{export.pk}/sightline-yolo-")
    assert b"Ready: 3 images, 3 boxes" in page.content
    assert not page.context["working"]
    assert download.status_code == 302
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))) as files:  # type: ignore[attr-defined]
        assert "data.yaml" in files.namelist()
    listing = labeler.get("/datasets/")
    assert listing.status_code == 200 and str(export.pk) in listing.content.decode()


def test_nobody_else_sees_an_export(footage: dict[str, Detection]) -> None:
    export = ask(client_of("lena", Role.LABELER))
    build_export(str(export.pk))
    other = client_of("otto", Role.ADMIN)

    assert other.get(f"/datasets/{export.pk}/").status_code == 404
    assert other.get(f"/datasets/{export.pk}/download/").status_code == 404
    assert str(export.pk) not in other.get("/datasets/").content.decode()


def test_viewers_may_not_export(footage: dict[str, Detection]) -> None:
    viewer = client_of("vic", Role.VIEWER)

    assert viewer.get("/datasets/").status_code == 403
    assert viewer.post("/datasets/", FORM).status_code == 403
    assert not DatasetExport.objects.exists()


def test_a_form_without_labels_says_so(footage: dict[str, Detection]) -> None:
    response = client_of("lena", Role.LABELER).post("/datasets/", {**FORM, "val_fraction": "2"})

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"labels", "val_fraction"}
    assert not DatasetExport.objects.exists()


def test_an_export_past_the_bound_fails_with_a_message(
    footage: dict[str, Detection], settings: Any
) -> None:
    settings.DATASET_EXPORT = {"max_bytes": 60_000, "url_lifetime_s": 60}
    labeler = client_of("lena", Role.LABELER)
    export = ask(labeler)

    build_export(str(export.pk))
    page = labeler.get(f"/datasets/{export.pk}/")

    export.refresh_from_db()
    assert export.state == DatasetExport.State.FAILED
    assert "larger than the 60,000 bytes allowed" in export.error
    assert "export_dataset" in page.content.decode()
    assert labeler.get(f"/datasets/{export.pk}/download/").status_code == 404


@pytest.mark.parametrize("state", [DatasetExport.State.DONE, DatasetExport.State.FAILED])
def test_a_redelivered_task_leaves_a_finished_export_alone(
    footage: dict[str, Detection], state: DatasetExport.State
) -> None:
    export = ask(client_of("lena", Role.LABELER))
    DatasetExport.objects.filter(pk=export.pk).update(state=state)

    build_export(str(export.pk))

    export.refresh_from_db()
    assert (export.state, export.images) == (state, 0)
