"""``python -m cloud reembed --missing|--all|--failed``: embed stored crops in this process.

`--missing` catches up on detections whose embed task never ran or failed for good (the broker
was down when ingest enqueued it, say); `--all` rebuilds every vector, for instance into a new
collection after the embedding model changed; `--failed` gives the detections marked failed
(`Detection.embed_error`: an unreadable crop, or runs that kept failing) another try, once
whatever failed them is fixed. The summary says how many detections remain marked failed.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand

from cloud.detections.models import Detection
from cloud.embeddings.services import detection_ids_to_embed, embed_detections


class Command(BaseCommand):
    help = "Embed the crops of stored detections (all, those not embedded yet, or failed ones)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="re-embed every detection")
        which.add_argument(
            "--missing", action="store_true", help="embed detections not embedded yet"
        )
        which.add_argument(
            "--failed",
            action="store_true",
            help="clear the failure of detections marked failed and embed them again",
        )
        parser.add_argument(
            "--chunk-size", type=int, default=256, help="detections per embedding call"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["failed"]:
            Detection.objects.exclude(embed_error="").update(embed_error="", embed_attempts=0)
        totals = {"embedded": 0, "missing": 0, "unreadable": 0, "given_up": 0}
        for chunk in detection_ids_to_embed(
            missing_only=not options["all"], chunk_size=options["chunk_size"]
        ):
            report = embed_detections(chunk, redo=options["all"])
            totals["embedded"] += len(report.embedded)
            totals["missing"] += len(report.missing)
            totals["unreadable"] += len(report.unreadable)
            totals["given_up"] += len(report.given_up)
        self.stdout.write(
            "embedded {embedded} detections ({unreadable} unreadable crops, {given_up} given up "
            "after repeated failures, {missing} deleted meanwhile)".format(**totals)
        )
        failed = Detection.objects.exclude(embed_error="").count()
        if failed:
            self.stdout.write(
                f"{failed} detection{' is' if failed == 1 else 's are'} marked failed and not "
                "embedded (the reason is in the admin's detection list; --failed retries them)"
            )
