"""``python -m cloud tags VERB``: labels on devices.

tags list [--json]
tags add TAG DEVICE ...
tags remove TAG DEVICE ...
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, ClassVar

from django.db.models import Count

from cloud.fleet import registry
from cloud.fleet.management.nouns import NounCommand, add_json
from cloud.fleet.models import Tag


class Command(NounCommand):
    help = "List tags, and put them on devices or take them off."
    verbs: ClassVar[Mapping[str, str]] = {
        "list": "List tags with their device counts.",
        "add": "Put a tag on devices (the tag is made when new).",
        "remove": "Take a tag off devices.",
    }

    def args_list(self, parser: argparse.ArgumentParser) -> None:
        add_json(parser)

    def do_list(self, **options: Any) -> None:
        tags = Tag.objects.values("id").annotate(count=Count("devices")).order_by("id")
        rows = [{"tag": tag["id"], "devices": tag["count"]} for tag in tags]
        lines = [f"{r['tag']:<24} {r['devices']:>6} devices" for r in rows]
        self.emit(options, rows, "\n".join(lines) or "no tags")

    def _devices_args(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("tag")
        parser.add_argument("device_ids", nargs="+", metavar="DEVICE")

    args_add = args_remove = _devices_args

    def do_add(self, **options: Any) -> None:
        count = registry.tag_devices(options["device_ids"], [options["tag"]])
        self.stdout.write(f"{options['tag']}: on {count} more device(s)")

    def do_remove(self, **options: Any) -> None:
        count = registry.tag_devices(options["device_ids"], [options["tag"]], remove=True)
        self.stdout.write(f"{options['tag']}: off {count} device(s)")
