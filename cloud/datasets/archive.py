"""Streaming a planned dataset into a zip: one image read, written and forgotten at a time.

The zip is reproducible: entries in the plan's order with a fixed time stamp, so the same
marks give the same bytes. JPEGs are stored as they are (compressing them again gains
nothing); text files are deflated. Beside the layout's files, ``export.json`` says what was
asked, how many images and boxes each split holds, and which chosen crops are missing and why.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Final

from cloud.datasets.formats import Entry, image_path, layout_for
from cloud.datasets.selection import DatasetFormat, DatasetPlan, ExportOptions, Skipped
from cloud.datasets.split import Split
from cloud.errors import InvalidInput
from cloud.lib.jpeg import JpegHeaderError, read_jpeg_size
from cloud.lib.objectstore import ObjectNotFound

MANIFEST: Final = "export.json"
_ZIP_TIME: Final = (1980, 1, 1, 0, 0, 0)
"""Every entry's time stamp: the earliest a zip can hold, so that the bytes never change."""
_ENTRY_OVERHEAD: Final = 200
"""Bytes a zip adds per entry (local header and central directory record, with the name),
counted against the size bound before the entry is written."""


class DatasetTooLarge(InvalidInput):
    """The archive would pass its size bound; the message says after how many images."""


@dataclass(frozen=True)
class ArchiveSummary:
    """What an archive holds."""

    images: dict[Split, int]
    boxes: int
    skipped: tuple[Skipped, ...]
    """The plan's skipped crops and those whose image could not be read."""
    size_bytes: int


class _Archive:
    """A zip on `out` that refuses to grow past `max_bytes`."""

    def __init__(self, out: BinaryIO, max_bytes: int | None) -> None:
        self._out = out
        self._start = out.tell()
        self._max_bytes = max_bytes
        self.zip = zipfile.ZipFile(out, "w")

    @property
    def size(self) -> int:
        return self._out.tell() - self._start

    def write(self, entry: Entry, *, stored: bool = False) -> None:
        projected = self.size + len(entry.data) + len(entry.path.encode()) + _ENTRY_OVERHEAD
        if self._max_bytes is not None and projected > self._max_bytes:
            raise DatasetTooLarge(
                f"the dataset is larger than the {self._max_bytes:,} bytes allowed"
            )
        info = zipfile.ZipInfo(entry.path, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self.zip.writestr(info, entry.data)


def write_archive(
    plan: DatasetPlan,
    dataset_format: DatasetFormat,
    options: ExportOptions,
    read: Callable[[str], bytes],
    out: BinaryIO,
    *,
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ArchiveSummary:
    """Write `plan` as a zip of `dataset_format` to `out` (seekable, positioned where the zip
    starts), reading each image with `read` (an object store's `get`).

    An image whose object is gone (`ObjectNotFound`) or is not a JPEG is left out and its
    crops listed as skipped. `progress(done, total)` is called after each image. Raises
    `DatasetTooLarge` as soon as the zip would pass `max_bytes` (what was written is then
    garbage), and whatever `read` raises besides `ObjectNotFound`.
    """
    layout = layout_for(dataset_format, plan.categories)
    archive = _Archive(out, max_bytes)
    skipped = list(plan.skipped)
    images = dict.fromkeys(Split, 0)
    boxes = 0
    with archive.zip:
        for done, image in enumerate(plan.images, start=1):
            try:
                jpeg = read(image.key)
                size = read_jpeg_size(jpeg)
            except (ObjectNotFound, JpegHeaderError) as err:
                reason = (
                    "image missing from the object store"
                    if isinstance(err, ObjectNotFound)
                    else f"image unreadable: {err}"
                )
                skipped += [Skipped(crop, reason) for crop in sorted(image.crops)]
            else:
                archive.write(Entry(image_path(image), jpeg), stored=True)
                for entry in layout.add(image, size):
                    archive.write(entry)
                images[image.split] += 1
                boxes += len(image.boxes)
            if progress is not None:
                progress(done, len(plan.images))
        for entry in layout.finish():
            archive.write(entry)
        manifest = {
            "format": str(dataset_format),
            "categories": list(plan.categories),
            "options": options.model_dump(mode="json"),
            "images": {str(side): count for side, count in images.items()},
            "boxes": boxes,
            "skipped": [{"detection_id": s.detection_id, "reason": s.reason} for s in skipped],
        }
        archive.write(Entry(MANIFEST, json.dumps(manifest, indent=2).encode()))
    if max_bytes is not None and archive.size > max_bytes:
        raise DatasetTooLarge(f"the dataset is larger than the {max_bytes:,} bytes allowed")
    return ArchiveSummary(
        images=images, boxes=boxes, skipped=tuple(skipped), size_bytes=archive.size
    )
