"""``python -m cloud export_dataset``: a zip on disk, or a clear error and no file."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cloud.access.models import Role
from cloud.detections.models import Detection
from cloud.fleet.models import Camera, CameraGroup
from tests.users import make_user


def test_it_writes_the_zip_and_says_what_is_in_it(
    footage: dict[str, Detection], tmp_path: Path
) -> None:
    out = tmp_path / "walkers.zip"
    printed = io.StringIO()

    call_command(
        "export_dataset", "--label", "WALKER", "--format", "coco", "--out", str(out), stdout=printed
    )

    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert "annotations/instances_train.json" in names
    assert len([name for name in names if name.endswith(".jpg")]) == 2
    assert "training and" in printed.getvalue() and "3 boxes" in printed.getvalue()
    assert not (tmp_path / "walkers.zip.partial").exists()


def test_a_user_narrows_it_to_their_cameras(footage: dict[str, Detection], tmp_path: Path) -> None:
    outside = CameraGroup.objects.create(site_id="hq", name="outside")
    outside.cameras.add(Camera.objects.get(edge_id="yard"))
    make_user("yves", Role.LABELER, all_sites=False, groups=[outside])
    out = tmp_path / "yard.zip"

    call_command(
        "export_dataset",
        *("--label", "van", "--format", "yolo", "--out", str(out)),
        *("--user", "yves", "--crops-without-context"),
        stdout=io.StringIO(),
    )

    with zipfile.ZipFile(out) as archive:
        images = [name for name in archive.namelist() if name.endswith(".jpg")]
    assert [Path(name).name for name in images] == [f"{footage['yard/van/0'].id}-crop.jpg"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--label", "bicycle"), "no label named 'bicycle'"),
        (("--label", "van", "--val-fraction", "1.5"), "val_fraction: Input should be less than 1"),
        (("--label", "van", "--user", "nobody"), "no user named 'nobody'"),
    ],
)
def test_bad_arguments_are_named_and_leave_no_file(
    footage: dict[str, Detection], tmp_path: Path, arguments: tuple[str, ...], message: str
) -> None:
    out = tmp_path / "out.zip"

    with pytest.raises(CommandError, match=message):
        call_command("export_dataset", *arguments, "--format", "coco", "--out", str(out))

    assert list(tmp_path.iterdir()) == [tmp_path / "objects"]
