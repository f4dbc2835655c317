"""``python -m cloud device_token <device> [--revoke-others | --revoke]``: manage gRPC tokens."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from cloud.errors import NotFound
from cloud.ingest.credentials import issue_token, revoke_tokens


class Command(BaseCommand):
    help = (
        "Issue a new ingest token for a provisioned device and print it (it is shown only "
        "once), or revoke the device's tokens."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("device_id")
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--revoke-others",
            action="store_true",
            help="issue a new token and revoke every earlier one (rotation after a leak)",
        )
        action.add_argument("--revoke", action="store_true", help="revoke every token, issue none")

    def handle(self, *args: Any, **options: Any) -> None:
        device_id: str = options["device_id"]
        if options["revoke"]:
            count = revoke_tokens(device_id)
            self.stdout.write(f"revoked {count} tokens of {device_id}")
            return
        try:
            token = issue_token(device_id, revoke_others=options["revoke_others"])
        except NotFound as err:
            raise CommandError(str(err)) from err
        self.stdout.write(token)
