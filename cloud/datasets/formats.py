"""The two layouts of an exported dataset: COCO and YOLO.

Both put the JPEGs under ``images/<split>/`` (``split`` is ``train`` or ``val``,
`cloud.datasets.split`). Then:

- COCO: ``annotations/instances_<split>.json``, the object-detection "instances" file of the
  COCO format (https://cocodataset.org/#format-data): images with their pixel size, one
  category per label (ids from 1), boxes as ``[x, y, width, height]`` in pixels from the
  top-left corner; each annotation also names the crop (``detection_id``), its track and why
  it is boxed (``source``), which readers ignore.
- YOLO (the layout Ultralytics and most YOLO trainers read): ``labels/<split>/<image>.txt``
  with a line ``class x_centre y_centre width height`` per box, normalised to the image
  (classes from 0; an empty file for an image without boxes), and ``data.yaml`` naming the
  splits' image folders and the classes. ``data.yaml`` has no ``path``: trainers then read
  the folders beside it.

A layout sees the images one by one (`add`), so that only the annotations, never the images,
are held until the end (`finish`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple, Protocol

import yaml

from cloud.datasets.selection import DatasetFormat, PlannedImage
from cloud.datasets.split import Split
from cloud.lib.jpeg import JpegSize


class Entry(NamedTuple):
    """A file of the archive: its path and bytes."""

    path: str
    data: bytes


def image_path(image: PlannedImage) -> str:
    """Where an image's JPEG goes in the archive (both layouts)."""
    return f"images/{image.split}/{image.name}"


class Layout(Protocol):
    """Writes the annotations of one format."""

    def add(self, image: PlannedImage, size: JpegSize) -> list[Entry]:
        """Take an image (of `size` pixels, as its JPEG says); return files to write beside it."""
        ...

    def finish(self) -> list[Entry]:
        """The files written after every image."""
        ...


def _pixels(value: float) -> float:
    # Two decimals are a hundredth of a pixel: exact enough, and short in the JSON.
    return round(value, 2)


class Coco:
    """COCO "instances" files, one per split."""

    def __init__(self, categories: Sequence[str]) -> None:
        self._category_ids = {name: number for number, name in enumerate(categories, start=1)}
        self._images: dict[Split, list[dict[str, object]]] = {side: [] for side in Split}
        self._annotations: dict[Split, list[dict[str, object]]] = {side: [] for side in Split}
        self._last_image = 0
        self._last_annotation = 0

    def add(self, image: PlannedImage, size: JpegSize) -> list[Entry]:
        self._last_image += 1
        self._images[image.split].append(
            {
                "id": self._last_image,
                "file_name": image.name,
                "width": size.width,
                "height": size.height,
            }
        )
        for box in image.boxes:
            self._last_annotation += 1
            x, y = _pixels(box.x_min * size.width), _pixels(box.y_min * size.height)
            width = _pixels((box.x_max - box.x_min) * size.width)
            height = _pixels((box.y_max - box.y_min) * size.height)
            self._annotations[image.split].append(
                {
                    "id": self._last_annotation,
                    "image_id": self._last_image,
                    "category_id": self._category_ids[box.category],
                    "bbox": [x, y, width, height],
                    "area": _pixels(width * height),
                    "iscrowd": 0,
                    "detection_id": box.detection_id,
                    "track_id": box.track_id,
                    "source": str(box.source),
                }
            )
        return []

    def finish(self) -> list[Entry]:
        categories = [
            {"id": number, "name": name, "supercategory": "object"}
            for name, number in self._category_ids.items()
        ]
        return [
            Entry(
                f"annotations/instances_{side}.json",
                json.dumps(
                    {
                        "info": {"description": f"Sightline labels, {side} split"},
                        "licenses": [],
                        "images": self._images[side],
                        "annotations": self._annotations[side],
                        "categories": categories,
                    },
                    ensure_ascii=False,
                ).encode(),
            )
            for side in Split
        ]


class Yolo:
    """One label file per image, and ``data.yaml``."""

    def __init__(self, categories: Sequence[str]) -> None:
        self._categories = list(categories)
        self._class_ids = {name: number for number, name in enumerate(categories)}

    def add(self, image: PlannedImage, size: JpegSize) -> list[Entry]:
        lines = [
            f"{self._class_ids[box.category]} {(box.x_min + box.x_max) / 2:.6f} "
            f"{(box.y_min + box.y_max) / 2:.6f} {box.x_max - box.x_min:.6f} "
            f"{box.y_max - box.y_min:.6f}\n"
            for box in image.boxes
        ]
        stem = image.name.removesuffix(".jpg")
        return [Entry(f"labels/{image.split}/{stem}.txt", "".join(lines).encode())]

    def finish(self) -> list[Entry]:
        data = {
            "train": f"images/{Split.TRAIN}",
            "val": f"images/{Split.VAL}",
            "nc": len(self._categories),
            "names": dict(enumerate(self._categories)),
        }
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return [Entry("data.yaml", text.encode())]


def layout_for(dataset_format: DatasetFormat, categories: Sequence[str]) -> Layout:
    """The layout that writes `dataset_format`."""
    if dataset_format is DatasetFormat.COCO:
        return Coco(categories)
    return Yolo(categories)
