"""Read a detection dataset exported by the cloud (COCO or YOLO, unzipped) for training.

Public surface: `read_coco(folder, split)`, `read_yolo(folder, split)` (both torch-free, giving
a `DetectionSet` of `Sample`s), `load_sample` (the decoded image and its targets as numpy
arrays) and `TorchDetectionDataset` with `collate`, which give what torchvision's detection
models (Faster R-CNN, RetinaNet, SSD, FCOS) train on: a float image tensor ``[3, H, W]`` in
[0, 1] and a target dict with ``boxes`` (float ``[N, 4]``, x1 y1 x2 y2 in pixels), ``labels``
(int64 ``[N]``), ``image_id``, ``area`` and ``iscrowd``.

Classes: the export's categories in its order (COCO ids 1..K, YOLO classes 0..K-1) become
labels 1..K here, because torchvision's detectors keep 0 for the background; a model for K
labels is built with ``num_classes=K + 1``. `DetectionSet.classes[i - 1]` names label ``i``.

The layout (`cloud.datasets.formats`): ``images/<split>/``, then ``annotations/instances_
<split>.json`` (COCO) or ``labels/<split>/*.txt`` and ``data.yaml`` (YOLO). An image without
boxes (a hard negative) is a sample with empty targets, which torchvision's detectors accept.

Torch is imported only by `TorchDetectionDataset`, so the readers run where it is missing; it
is export tooling (docs/architecture.md, "Dependency directions") and never a runtime need.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import yaml

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class DatasetError(ValueError):
    """The folder is not an exported dataset of that format; the message says what is wrong."""


@dataclass(frozen=True)
class Sample:
    """One image and its boxes."""

    image: Path
    image_id: int
    boxes: FloatArray
    """``[N, 4]`` x1 y1 x2 y2, normalised to the image (so the size need not be known yet)."""
    labels: IntArray
    """``[N]``, 1..K (0 is the background)."""


@dataclass(frozen=True)
class DetectionSet:
    """The samples of one split and the class names."""

    classes: tuple[str, ...]
    """Name of label ``i`` at ``classes[i - 1]``."""
    samples: tuple[Sample, ...]


def _boxes(rows: Sequence[Sequence[float]]) -> FloatArray:
    return np.asarray(rows, np.float32).reshape(-1, 4)


def read_coco(folder: Path, split: str = "train") -> DetectionSet:
    """The `split` of an exported COCO dataset in `folder`."""
    path = folder / "annotations" / f"instances_{split}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: not a COCO instances file ({err})") from err
    categories = sorted(data["categories"], key=lambda category: category["id"])
    label_of = {category["id"]: number for number, category in enumerate(categories, start=1)}
    rows: dict[int, list[tuple[list[float], int]]] = {image["id"]: [] for image in data["images"]}
    for annotation in data["annotations"]:
        rows[annotation["image_id"]].append(
            (annotation["bbox"], label_of[annotation["category_id"]])
        )
    samples = []
    for image in sorted(data["images"], key=lambda image: image["id"]):
        width, height = image["width"], image["height"]
        boxes = [
            [x / width, y / height, (x + w) / width, (y + h) / height]
            for (x, y, w, h), _ in rows[image["id"]]
        ]
        samples.append(
            Sample(
                image=folder / "images" / split / image["file_name"],
                image_id=image["id"],
                boxes=_boxes(boxes),
                labels=np.asarray([label for _, label in rows[image["id"]]], np.int64),
            )
        )
    return DetectionSet(tuple(category["name"] for category in categories), tuple(samples))


def read_yolo(folder: Path, split: str = "train") -> DetectionSet:
    """The `split` of an exported YOLO dataset in `folder` (image ids count from 1 in file
    name order)."""
    try:
        data = yaml.safe_load((folder / "data.yaml").read_text(encoding="utf-8"))
        names = data["names"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as err:
        raise DatasetError(f"{folder / 'data.yaml'}: no class names ({err})") from err
    classes = tuple(names[i] for i in sorted(names)) if isinstance(names, dict) else tuple(names)
    samples = []
    images = sorted((folder / "images" / split).glob("*.jpg"))
    for image_id, image in enumerate(images, start=1):
        label_file = folder / "labels" / split / f"{image.stem}.txt"
        rows = [line.split() for line in label_file.read_text(encoding="utf-8").splitlines()]
        rows = [row for row in rows if row]
        if any(len(row) != 5 for row in rows):
            raise DatasetError(f"{label_file}: a line is not 'class cx cy w h'")
        values = [[float(value) for value in row[1:]] for row in rows]
        boxes = [[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] for cx, cy, w, h in values]
        samples.append(
            Sample(
                image=image,
                image_id=image_id,
                boxes=_boxes(boxes),
                labels=np.asarray([int(row[0]) + 1 for row in rows], np.int64),
            )
        )
    return DetectionSet(classes, tuple(samples))


def load_sample(sample: Sample) -> tuple[npt.NDArray[np.uint8], dict[str, Any]]:
    """The image (RGB, ``[H, W, 3]``) and its targets in pixels, as numpy arrays: ``boxes``
    ``[N, 4]`` float32, ``labels`` ``[N]`` int64, ``image_id``, ``area`` ``[N]`` float32 and
    ``iscrowd`` ``[N]`` int64 (all zero)."""
    bgr = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DatasetError(f"{sample.image}: missing or not an image")
    height, width = bgr.shape[:2]
    boxes = sample.boxes * np.asarray([width, height, width, height], np.float32)
    rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)
    return rgb, {
        "boxes": boxes,
        "labels": sample.labels,
        "image_id": sample.image_id,
        "area": (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
        "iscrowd": np.zeros(len(boxes), np.int64),
    }


class TorchDetectionDataset:
    """A map-style dataset for ``torch.utils.data.DataLoader`` (with ``collate_fn=collate``):
    item ``i`` is ``(image, target)`` as torchvision's detection models train on."""

    def __init__(self, dataset: DetectionSet) -> None:
        import torch  # export tooling only; the readers above work without it

        self._torch = torch
        self.classes = dataset.classes
        self._samples = dataset.samples

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
        torch = self._torch
        rgb, target = load_sample(self._samples[index])
        image = torch.from_numpy(rgb).permute(2, 0, 1).float().div(255.0)
        tensors = {
            "boxes": torch.from_numpy(target["boxes"]),
            "labels": torch.from_numpy(target["labels"]),
            "image_id": target["image_id"],
            "area": torch.from_numpy(target["area"]),
            "iscrowd": torch.from_numpy(target["iscrowd"]),
        }
        return image, tensors


def collate(batch: Sequence[tuple[Any, dict[str, Any]]]) -> tuple[tuple[Any, ...], ...]:
    """Batch samples as torchvision's detection references do: images and targets as tuples,
    since images differ in size."""
    return tuple(zip(*batch, strict=True))
