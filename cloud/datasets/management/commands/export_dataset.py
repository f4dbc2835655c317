"""``python -m cloud export_dataset --label NAME [--label NAME ...] --format coco|yolo --out
FILE.zip``: write a detection dataset of the labels' marked crops to a file.

The same dataset as the web app's export page, without its size bound: the zip is streamed to
``FILE.zip.partial`` one image at a time and renamed when complete, so a failed run leaves no
half-written FILE.zip. Every camera is exported unless ``--user NAME`` narrows the crops to
those that user may see.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from pydantic import ValidationError

from cloud.access.scope import visible_camera_ids
from cloud.datasets.selection import DatasetFormat, ExportOptions
from cloud.datasets.services import build_dataset
from cloud.datasets.split import Split
from cloud.errors import InvalidInput
from cloud.lib.objectstore import ObjectStoreError


class Command(BaseCommand):
    help = "Export the crops marked with labels as a COCO or YOLO detection dataset (a zip)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        fields = ExportOptions.model_fields
        parser.add_argument(
            "--label",
            action="append",
            required=True,
            dest="labels",
            metavar="NAME",
            help="a label to export, as a class (repeat for several)",
        )
        parser.add_argument(
            "--format", required=True, choices=[f.value for f in DatasetFormat], dest="format"
        )
        parser.add_argument("--out", required=True, type=Path, help="the zip file to write")
        parser.add_argument(
            "--min-classifier-confidence",
            type=float,
            metavar="P",
            help=fields["min_classifier_confidence"].description,
        )
        parser.add_argument(
            "--crops-without-context",
            action="store_true",
            help=fields["crops_without_context"].description,
        )
        parser.add_argument(
            "--hard-negatives", action="store_true", help=fields["hard_negatives"].description
        )
        parser.add_argument(
            "--val-fraction",
            type=float,
            default=fields["val_fraction"].default,
            help=fields["val_fraction"].description,
        )
        parser.add_argument(
            "--user", metavar="NAME", help="export only the crops this user may see"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            export_options = ExportOptions(
                labels=tuple(options["labels"]),
                min_classifier_confidence=options["min_classifier_confidence"],
                crops_without_context=options["crops_without_context"],
                hard_negatives=options["hard_negatives"],
                val_fraction=options["val_fraction"],
            )
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in err.errors()
            )
            raise CommandError(problems) from err
        camera_ids = None
        if options["user"] is not None:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user named {options['user']!r}")
            camera_ids = visible_camera_ids(user)
        out: Path = options["out"]
        partial = out.with_name(out.name + ".partial")
        try:
            with partial.open("wb") as file:
                summary = build_dataset(
                    export_options, DatasetFormat(options["format"]), camera_ids, file
                )
            partial.replace(out)
        except (InvalidInput, ObjectStoreError, OSError) as err:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise CommandError(str(err)) from err
        self.stdout.write(
            f"wrote {out}: {summary.images[Split.TRAIN]} training and "
            f"{summary.images[Split.VAL]} validation images, {summary.boxes} boxes, "
            f"{summary.size_bytes:,} bytes"
        )
        if summary.skipped:
            self.stdout.write(
                f"{len(summary.skipped)} chosen crops left out (export.json in the zip says why)"
            )
