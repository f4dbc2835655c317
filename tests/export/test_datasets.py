"""export.datasets on a tiny dataset exported by the cloud's own archive writer: real vtest.avi
context frames, two classes, a validation image and a hard negative, in both formats."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from cloud.datasets.archive import write_archive
from cloud.datasets.selection import (
    Box,
    BoxSource,
    DatasetFormat,
    DatasetPlan,
    ExportOptions,
    PlannedImage,
)
from cloud.datasets.split import Split
from export.datasets import (
    DatasetError,
    DetectionSet,
    TorchDetectionDataset,
    collate,
    load_sample,
    read_coco,
    read_yolo,
)
from tests.cloud.ingest.footage import vtest_frame

SIZE = (640, 480)
CATEGORIES = ("Van", "walker")


def box(detection: str, category: str, x0: float, y0: float, x1: float, y1: float) -> Box:
    return Box(detection, f"track-{detection}", category, BoxSource.MARK, x0, y0, x1, y1)


PLAN = DatasetPlan(
    categories=CATEGORIES,
    images=(
        PlannedImage(
            "frame-0.jpg",
            "0",
            (
                box("woman", "walker", 0.83, 0.41, 0.90, 0.56),
                box("van", "Van", 0.85, 0.07, 0.94, 0.17),
            ),
            frozenset({"track-woman", "track-van"}),
            frozenset({"woman", "van"}),
            Split.TRAIN,
        ),
        PlannedImage(
            "empty.jpg", "50", (), frozenset({"track-man"}), frozenset({"man"}), Split.TRAIN
        ),
        PlannedImage(
            "frame-3.jpg",
            "3",
            (box("man", "walker", 0.35, 0.375, 0.40, 0.52),),
            frozenset({"track-other"}),
            frozenset({"man"}),
            Split.VAL,
        ),
    ),
    skipped=(),
)


def context_frame(key: str) -> bytes:
    """The image of `key` (a frame number of vtest.avi), downscaled as the edge does."""
    ok, data = cv2.imencode(".jpg", cv2.resize(vtest_frame(int(key)), SIZE))
    assert ok
    return bytes(data)


def exported(tmp_path: Path, dataset_format: DatasetFormat) -> Path:
    out = io.BytesIO()
    write_archive(PLAN, dataset_format, ExportOptions(labels=CATEGORIES), context_frame, out)
    folder = tmp_path / str(dataset_format)
    with zipfile.ZipFile(out) as archive:
        archive.extractall(folder)
    return folder


def pixel_boxes(image: PlannedImage) -> np.ndarray:
    scale = np.asarray([*SIZE, *SIZE], np.float32)
    return (
        np.asarray([[b.x_min, b.y_min, b.x_max, b.y_max] for b in image.boxes]).reshape(-1, 4)
        * scale
    )


@pytest.mark.parametrize(
    ("dataset_format", "read"),
    [(DatasetFormat.COCO, read_coco), (DatasetFormat.YOLO, read_yolo)],
    ids=["coco", "yolo"],
)
def test_each_format_reads_back_as_torchvision_targets(
    tmp_path: Path, dataset_format: DatasetFormat, read: object
) -> None:
    folder = exported(tmp_path, dataset_format)
    assert callable(read)
    for split in Split:
        dataset: DetectionSet = read(folder, str(split))
        planned = sorted(
            (image for image in PLAN.images if image.split == split), key=lambda i: i.name
        )
        samples = sorted(dataset.samples, key=lambda sample: sample.image.name)

        assert dataset.classes == CATEGORIES
        assert [sample.image.name for sample in samples] == [image.name for image in planned]
        for sample, image in zip(samples, planned, strict=True):
            rgb, target = load_sample(sample)
            assert rgb.shape == (SIZE[1], SIZE[0], 3)
            np.testing.assert_allclose(target["boxes"], pixel_boxes(image), atol=0.01)
            labels = [CATEGORIES.index(b.category) + 1 for b in image.boxes]  # 0: background
            assert target["labels"].tolist() == labels
            assert target["boxes"].dtype == np.float32 and target["labels"].dtype == np.int64


def test_a_folder_that_is_no_export_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"instances_train\.json"):
        read_coco(tmp_path)
    with pytest.raises(DatasetError, match=r"data\.yaml"):
        read_yolo(tmp_path)


def test_torch_gets_image_tensors_and_target_dicts(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    dataset = TorchDetectionDataset(read_coco(exported(tmp_path, DatasetFormat.COCO)))
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, collate_fn=collate)

    images, targets = next(iter(loader))

    assert images[0].shape == (3, SIZE[1], SIZE[0]) and images[0].dtype == torch.float32
    assert float(images[0].min()) >= 0.0 and float(images[0].max()) <= 1.0
    assert targets[0]["boxes"].shape == (2, 4) and targets[0]["labels"].tolist() == [2, 1]
    assert targets[1]["boxes"].shape == (0, 4)  # the hard negative
