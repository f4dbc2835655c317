"""Fixtures of the dataset export tests: labelled vtest.avi crops in a local object store."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from cloud.datasets.archive import ArchiveSummary
from cloud.datasets.selection import DatasetFormat, ExportOptions
from cloud.datasets.services import build_dataset
from cloud.detections.models import Detection
from cloud.fleet.models import Device
from cloud.lib.objectstore import ObjectStore
from tests.cloud.datasets.footage import store_footage

EVERYTHING = {
    "min_classifier_confidence": 0.9,
    "crops_without_context": True,
    "hard_negatives": True,
}
"""Every option on: classifier scores from 0.9, crops without context frames, hard negatives."""


@pytest.fixture
def footage(provisioned_device: Device, store: ObjectStore) -> dict[str, Detection]:
    """The labelled crops of `tests.cloud.datasets.footage`, in the process's object store."""
    return store_footage(store)


Export = Callable[..., tuple[Path, ArchiveSummary]]


@pytest.fixture
def export(tmp_path: Path) -> Export:
    """`export(format, camera_ids=None, **options)`: build the walker + Van dataset, unzip it
    into a fresh folder, and return the folder and the summary."""
    count = 0

    def run(
        dataset_format: DatasetFormat, camera_ids: frozenset[int] | None = None, **options: object
    ) -> tuple[Path, ArchiveSummary]:
        nonlocal count
        count += 1
        out = io.BytesIO()
        summary = build_dataset(
            ExportOptions.model_validate({"labels": ["walker", "van"], **options}),
            dataset_format,
            camera_ids,
            out,
        )
        folder = tmp_path / f"export-{count}"
        with zipfile.ZipFile(out) as archive:
            archive.extractall(folder)
        return folder, summary

    return run
