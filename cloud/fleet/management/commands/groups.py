"""``python -m cloud groups VERB``: camera groups, per site.

groups add SITE NAME
groups list [--site S] [--json]
groups assign SITE NAME DEVICE/CAMERA ... [--remove]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, ClassVar

from cloud.errors import InvalidInput
from cloud.fleet import registry
from cloud.fleet.management.nouns import NounCommand, add_json
from cloud.fleet.models import CameraGroup


def _camera(text: str) -> tuple[str, str]:
    device_id, slash, camera_id = text.partition("/")
    if not (slash and device_id and camera_id):
        raise InvalidInput(f"camera {text!r}: write it as DEVICE/CAMERA, as 'devices show' lists")
    return device_id, camera_id


class Command(NounCommand):
    help = "Add and list camera groups, and put cameras into them."
    verbs: ClassVar[Mapping[str, str]] = {
        "add": "Add a camera group to a site.",
        "list": "List camera groups and their cameras.",
        "assign": "Put cameras (DEVICE/CAMERA) into a group, or take them out with --remove.",
    }

    def args_add(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("site_id")
        parser.add_argument("name")

    def do_add(self, **options: Any) -> None:
        created = registry.save_group(options["site_id"], options["name"])
        group = f"{options['site_id']}/{options['name']}"
        self.stdout.write(f"{group}: {'added' if created else 'exists'}")

    def args_list(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--site", default="", help="only this site's groups")
        add_json(parser)

    def do_list(self, **options: Any) -> None:
        groups = CameraGroup.objects.prefetch_related("cameras")
        if options["site"]:
            groups = groups.filter(site_id=options["site"])
        rows = [
            {
                "site": group.site_id,
                "name": group.name,
                "cameras": [f"{c.device_id}/{c.edge_id}" for c in group.cameras.all()],
            }
            for group in groups
        ]
        lines = [f"{r['site']}/{r['name']}: {' '.join(r['cameras']) or '(empty)'}" for r in rows]
        self.emit(options, rows, "\n".join(lines) or "no camera groups")

    def args_assign(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("site_id")
        parser.add_argument("name")
        parser.add_argument("cameras", nargs="+", metavar="DEVICE/CAMERA")
        parser.add_argument("--remove", action="store_true", help="take them out instead")

    def do_assign(self, **options: Any) -> None:
        cameras = [_camera(text) for text in options["cameras"]]
        count = registry.assign_cameras(
            options["site_id"], options["name"], cameras, remove=options["remove"]
        )
        verb = "removed from" if options["remove"] else "assigned to"
        self.stdout.write(f"{count} camera(s) {verb} {options['site_id']}/{options['name']}")
