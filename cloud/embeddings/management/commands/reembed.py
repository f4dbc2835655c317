"""``python -m cloud reembed --missing|--all``: embed stored crops in this process.

`--missing` catches up on detections whose embed task never ran or failed for good (the broker
was down when ingest enqueued it, say); `--all` rebuilds every vector, for instance into a new
collection after the embedding model changed.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from cloud.embeddings.services import detection_ids_to_embed, embed_detections


class Command(BaseCommand):
    help = "Embed the crops of stored detections (all, or those not embedded yet)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="re-embed every detection")
        which.add_argument(
            "--missing", action="store_true", help="embed detections not embedded yet"
        )
        parser.add_argument(
            "--chunk-size", type=int, default=256, help="detections per embedding call"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        totals = {"embedded": 0, "missing": 0, "unreadable": 0}
        for chunk in detection_ids_to_embed(
            missing_only=options["missing"], chunk_size=options["chunk_size"]
        ):
            report = embed_detections(chunk)
            totals["embedded"] += len(report.embedded)
            totals["missing"] += len(report.missing)
            totals["unreadable"] += len(report.unreadable)
        self.stdout.write(
            "embedded {embedded} detections ({unreadable} unreadable crops, "
            "{missing} deleted meanwhile)".format(**totals)
        )
