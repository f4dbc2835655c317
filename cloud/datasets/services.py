"""Running an export: the plan, the zip in a temporary file, the object in the store.

The web app's task (`cloud.datasets.tasks`) and the command (``export_dataset``) share
`build_dataset`; the task also stores the zip (`run_export`) and records its progress on the
`DatasetExport` row, at most about once a second.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import BinaryIO, Final

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import F
from django.utils import timezone

from cloud import backends
from cloud.access.scope import visible_camera_ids
from cloud.datasets.archive import ArchiveSummary, DatasetTooLarge, write_archive
from cloud.datasets.config import export_settings
from cloud.datasets.models import DatasetExport
from cloud.datasets.selection import DatasetFormat, ExportOptions, plan_dataset
from cloud.errors import InvalidInput
from cloud.lib.objectstore import ObjectStoreUnavailable, ObjectTooLarge
from cloud.lib.objectstore.validation import validate_key

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_S: Final = 1.0
"""Least time between two progress writes of one export."""
TOO_LARGE_HINT: Final = (
    "; choose fewer labels, or export with `python -m cloud export_dataset`, which writes a "
    "file of any size"
)


def build_dataset(
    options: ExportOptions,
    dataset_format: DatasetFormat,
    camera_ids: frozenset[int] | None,
    out: BinaryIO,
    *,
    max_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ArchiveSummary:
    """Plan the dataset from the crops of `camera_ids` (None: all) and write its zip to `out`.

    Raises `InvalidInput` (an unknown label), `DatasetTooLarge`, and the object store's errors.
    """
    plan = plan_dataset(options, camera_ids)
    if progress is not None:
        progress(0, len(plan.images))
    return write_archive(
        plan,
        dataset_format,
        options,
        backends.object_store().get,
        out,
        max_bytes=max_bytes,
        progress=progress,
    )


def export_key(export: DatasetExport) -> str:
    """``datasets/<export id>/sightline-<format>-<yyyymmdd>.zip``."""
    day = f"{export.created_at:%Y%m%d}"
    return validate_key(f"datasets/{export.id}/sightline-{export.format}-{day}.zip")


class ProgressRecorder:
    """Writes an export's progress to its row, at most every `PROGRESS_INTERVAL_S` seconds
    and always at the first and last image."""

    def __init__(self, export: DatasetExport) -> None:
        self._export = export
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - self._last >= PROGRESS_INTERVAL_S:
            DatasetExport.objects.filter(pk=self._export.pk).update(done=done, total=total)
            self._last = now


def run_export(export: DatasetExport) -> None:
    """Build `export`'s zip from what its creator may see now and store it; the row ends
    done or failed with a message for the page.

    Every failure the user can act on is recorded here; anything else propagates to the task.
    """
    export.state = DatasetExport.State.RUNNING
    export.error = ""
    export.save(update_fields=("state", "error"))
    config = export_settings()
    creator = export.created_by
    assert isinstance(creator, AbstractBaseUser)
    try:
        with tempfile.TemporaryFile() as out:
            summary = build_dataset(
                ExportOptions.model_validate(export.options),
                DatasetFormat(export.format),
                visible_camera_ids(creator),
                out,
                max_bytes=config.max_bytes,
                progress=ProgressRecorder(export),
            )
            out.seek(0)
            data = out.read()
        key = export_key(export)
        backends.object_store().put(key, data, content_type="application/zip")
    except DatasetTooLarge as err:
        fail_export(export.pk, str(err) + TOO_LARGE_HINT)
    except ObjectTooLarge:
        message = "the dataset is larger than the object store accepts"
        fail_export(export.pk, message + TOO_LARGE_HINT)
    except InvalidInput as err:
        fail_export(export.pk, str(err))
    except ObjectStoreUnavailable as err:
        logger.warning("dataset export %s: object store unavailable: %s", export.pk, err)
        fail_export(export.pk, "the object store could not be reached; try again later")
    else:
        images = sum(summary.images.values())
        DatasetExport.objects.filter(pk=export.pk).update(
            state=DatasetExport.State.DONE,
            object_key=key,
            size_bytes=summary.size_bytes,
            images=images,
            boxes=summary.boxes,
            skipped=len(summary.skipped),
            done=F("total"),
            finished_at=timezone.now(),
        )
        logger.info(
            "dataset export %s: %d images, %d boxes, %d bytes",
            export.pk,
            images,
            summary.boxes,
            summary.size_bytes,
        )


def fail_export(export_id: uuid.UUID | str, message: str) -> None:
    """Record that an export failed, and why, in words for its page."""
    DatasetExport.objects.filter(pk=export_id).update(
        state=DatasetExport.State.FAILED, error=message, finished_at=timezone.now()
    )
