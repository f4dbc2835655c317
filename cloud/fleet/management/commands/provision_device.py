"""``python -m cloud provision_device <id> --hardware x86-cpu [--name N] [--site S] [--tag T]``.

Registers a device without credentials; `python -m cloud devices enrol` registers one and
gives it its credentials in one step.
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cloud.errors import InvalidInput
from cloud.fleet.models import HardwareProfile
from cloud.fleet.services import provision_device


class Command(BaseCommand):
    help = "Register an edge device so that its uploads and messages are accepted."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("device_id")
        parser.add_argument("--hardware", required=True, choices=HardwareProfile.values)
        parser.add_argument("--name", default="", help="display name")
        parser.add_argument(
            "--site", default="", help="site id (added when new; default: 'default')"
        )
        parser.add_argument("--tag", action="append", default=[], help="a tag (repeat)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            created = provision_device(
                options["device_id"],
                hardware_profile=options["hardware"],
                name=options["name"],
                site=options["site"],
                tags=options["tag"],
            )
        except InvalidInput as err:
            raise CommandError(str(err)) from err
        self.stdout.write(f"{options['device_id']}: {'provisioned' if created else 'exists'}")
