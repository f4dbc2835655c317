"""Exported datasets read back by real readers of each format: pycocotools for COCO, globox
for YOLO. The crops are real vtest.avi crops with real context frames, labelled as in
`tests.cloud.datasets.footage`; what the readers find must be what was labelled."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import cv2
import pytest
import yaml
from django.utils import timezone
from globox import AnnotationSet
from pycocotools.coco import COCO

from cloud.datasets.archive import DatasetTooLarge
from cloud.datasets.selection import NO_CONTEXT, DatasetFormat, ExportOptions
from cloud.datasets.services import build_dataset
from cloud.detections.models import Detection
from cloud.errors import InvalidInput
from cloud.fleet.models import Camera
from cloud.labels.models import Label, Mark, Value
from cloud.lib.objectstore import ObjectStore
from tests.cloud.datasets.conftest import EVERYTHING, Export
from tests.cloud.datasets.footage import ExpectedBox, expected_boxes, store_crop
from tests.cloud.ingest.footage import VtestObject

SPLITS = ("train", "val")


def same_boxes(found: set[ExpectedBox], expected: set[ExpectedBox]) -> bool:
    """Equal up to a hundredth of a pixel (COCO files keep two decimals)."""
    if len(found) != len(expected):
        return False
    key = lambda box: (box.image, box.category, box.box)  # noqa: E731
    return all(
        a.image == b.image
        and a.category == b.category
        and all(math.isclose(p, q, abs_tol=0.011) for p, q in zip(a.box, b.box, strict=True))
        for a, b in zip(sorted(found, key=key), sorted(expected, key=key), strict=True)
    )


def coco_boxes(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[set[ExpectedBox], list[str]]:
    """Every box pycocotools reads from both splits, and every image's file name; each image's
    recorded size is checked against the JPEG itself."""
    boxes, images = set(), []
    for split in SPLITS:
        coco = COCO(str(folder / "annotations" / f"instances_{split}.json"))
        capsys.readouterr()  # pycocotools prints its progress
        for image in coco.loadImgs(coco.getImgIds()):
            pixels = cv2.imread(str(folder / "images" / split / image["file_name"]))
            assert (image["height"], image["width"]) == pixels.shape[:2]
            images.append(image["file_name"])
        names = {category["id"]: category["name"] for category in coco.loadCats(coco.getCatIds())}
        assert list(names.values()) == ["Van", "walker"]  # by name, whatever the case
        for annotation in coco.loadAnns(coco.getAnnIds()):
            image = coco.imgs[annotation["image_id"]]["file_name"]
            box = tuple(annotation["bbox"])
            boxes.add(ExpectedBox(image, names[annotation["category_id"]], box))  # type: ignore[arg-type]
    return boxes, images


def test_coco_round_trips_through_pycocotools(
    footage: dict[str, Detection], export: Export, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, summary = export(DatasetFormat.COCO)

    boxes, images = coco_boxes(folder, capsys)
    assert same_boxes(boxes, expected_boxes(footage, everything=False))
    # Lobby frame 0 on the woman's context frame, frame 3 on the man-on-grass's (the only crop
    # of that frame with one, though unlabelled); the yard's van has none and is skipped.
    assert sorted(images) == sorted(
        f"{footage[name].id}.jpg" for name in ("lobby/woman/0", "lobby/man-on-grass/3")
    )
    assert [(s.detection_id, s.reason) for s in summary.skipped] == [
        (footage["yard/van/0"].id, NO_CONTEXT)
    ]
    manifest = json.loads((folder / "export.json").read_text())
    assert manifest["skipped"] == [{"detection_id": footage["yard/van/0"].id, "reason": NO_CONTEXT}]
    assert manifest["boxes"] == summary.boxes == 4


def test_coco_with_every_option_adds_scores_crops_and_hard_negatives(
    footage: dict[str, Detection], export: Export, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, summary = export(DatasetFormat.COCO, **EVERYTHING)

    boxes, images = coco_boxes(folder, capsys)
    # The classifier's 0.95 is in; its 0.5 and the negatively marked 0.97 are not.
    assert same_boxes(boxes, expected_boxes(footage, everything=True))
    # The yard's frame 3 holds only a negative: an image without boxes.
    assert f"{footage['yard/man-on-road/3'].id}.jpg" in images
    assert len(images) == 4
    assert summary.skipped == ()


def test_yolo_round_trips_through_globox(footage: dict[str, Detection], export: Export) -> None:
    folder, summary = export(DatasetFormat.YOLO, **EVERYTHING)

    data = yaml.safe_load((folder / "data.yaml").read_text())
    assert data["names"] == {0: "Van", 1: "walker"}
    assert (data["train"], data["val"]) == ("images/train", "images/val")
    boxes, images = set(), []
    for split in SPLITS:
        annotations = AnnotationSet.from_yolo_darknet(
            folder / "labels" / split, image_folder=folder / "images" / split
        )
        for annotation in annotations:
            images.append(annotation.image_id)
            for box in annotation.boxes:
                category = data["names"][int(box.label)]
                found = (box.xmin, box.ymin, box.width, box.height)
                boxes.add(ExpectedBox(annotation.image_id, category, found))
    assert same_boxes(boxes, expected_boxes(footage, everything=True))
    assert len(images) == 4  # the hard negative too, read from its empty label file
    assert summary.boxes == 6


def test_the_split_keeps_each_track_on_one_side_and_the_export_is_reproducible(
    footage: dict[str, Detection], export: Export
) -> None:
    folder, _ = export(DatasetFormat.YOLO, **EVERYTHING)
    again, _ = export(DatasetFormat.YOLO, **EVERYTHING)

    tracks = {
        split: {
            footage_row.track_id
            for footage_row in footage.values()
            for path in (folder / "images" / split).iterdir()
            if path.name.removesuffix("-crop.jpg").removesuffix(".jpg") == footage_row.id
        }
        for split in SPLITS
    }
    # The woman's track spans lobby frames 0 and 3: both images are on the same side.
    assert all(tracks.values()), tracks  # a small dataset still gets a validation side
    assert not tracks["train"] & tracks["val"]
    listing = sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))
    assert listing == sorted(str(path.relative_to(again)) for path in again.rglob("*"))
    assert all(
        (folder / name).read_bytes() == (again / name).read_bytes()
        for name in listing
        if (folder / name).is_file()
    )


def test_only_the_cameras_given_are_exported(footage: dict[str, Detection], export: Export) -> None:
    lobby = frozenset({Camera.objects.get(edge_id="lobby").pk})

    folder, summary = export(DatasetFormat.YOLO, lobby, **EVERYTHING)

    names = {path.name for path in folder.rglob("*.jpg")}
    assert names == {
        f"{footage['lobby/woman/0'].id}.jpg",
        f"{footage['lobby/man-on-grass/3'].id}.jpg",
    }
    assert summary.boxes == 5
    assert not any(
        row.id in (folder / "export.json").read_text()
        for name, row in footage.items()
        if name.startswith("yard/")
    )


def test_a_dataset_past_its_bound_fails_with_a_message(footage: dict[str, Detection]) -> None:
    options = ExportOptions(labels=("walker",))

    with pytest.raises(DatasetTooLarge, match="larger than the 50,000 bytes allowed"):
        build_dataset(options, DatasetFormat.COCO, None, io.BytesIO(), max_bytes=50_000)


def test_an_unknown_label_is_named(footage: dict[str, Detection]) -> None:
    options = ExportOptions(labels=("walker", "bicycle"))

    with pytest.raises(InvalidInput, match="no label named 'bicycle'"):
        build_dataset(options, DatasetFormat.YOLO, None, io.BytesIO())


def test_an_image_gone_from_the_store_is_listed_and_the_rest_exported(
    footage: dict[str, Detection], export: Export, store: ObjectStore
) -> None:
    # Frame 3's context frames: the one lobby's woman is boxed on, and the yard's hard negative.
    store.delete(footage["lobby/man-on-grass/3"].context_key)
    store.delete(footage["yard/man-on-road/3"].context_key)
    # A second negative on that frame, which has no context frame of its own.
    van = Label.objects.get(name="Van")
    Mark.objects.create(
        label=van, detection=footage["yard/woman/3"], value=Value.NEGATIVE, at=timezone.now()
    )

    folder, summary = export(DatasetFormat.COCO, hard_negatives=True)

    assert [path.name for path in folder.rglob("*.jpg")] == [f"{footage['lobby/woman/0'].id}.jpg"]
    missing = "image missing from the object store"
    assert sorted((s.detection_id, s.reason) for s in summary.skipped) == sorted(
        [
            (footage["yard/van/0"].id, NO_CONTEXT),
            (footage["lobby/woman/3"].id, missing),
            # Every chosen crop of the image, not only the one whose context frame it was.
            (footage["yard/man-on-road/3"].id, missing),
            (footage["yard/woman/3"].id, missing),
        ]
    )


def test_a_crop_negative_for_two_labels_is_one_hard_negative(
    footage: dict[str, Detection], export: Export, store: ObjectStore
) -> None:
    # A walker on the yard camera in frame 6, whose frame has no context frame.
    item = VtestObject("man-on-road", "person", 6, (494, 162, 524, 238))
    row = store_crop(store, "yard", item, context=False)
    Mark.objects.bulk_create(
        Mark(label=label, detection=row, value=Value.NEGATIVE, at=timezone.now())
        for label in Label.objects.all()
    )

    folder, summary = export(DatasetFormat.COCO, **EVERYTHING)

    crops = sorted(path.name for path in folder.rglob("*-crop.jpg"))
    assert crops == sorted([f"{footage['yard/van/0'].id}-crop.jpg", f"{row.id}-crop.jpg"])
    assert sum(summary.images.values()) == 5 and summary.boxes == 6
