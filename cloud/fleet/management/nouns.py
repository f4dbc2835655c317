"""The base of the fleet's admin commands: one command per noun (``devices``, ``sites``,
``groups``, ``tags``), one subcommand per verb, text for people and ``--json`` for scripts.

A subclass lists its verbs in `verbs` (name: help) and defines, per verb, ``args_<verb>(parser)``
and ``do_<verb>(**options)``. The domain errors of the services become `CommandError`s that
say what went wrong and what to do, without a traceback.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError

from cloud.errors import CloudError
from cloud.fleet.models import Device
from cloud.fleet.registry import health_of


class NounCommand(BaseCommand):
    """A command whose first argument is a verb with its own arguments and --help."""

    verbs: ClassVar[Mapping[str, str]]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
        for name, text in self.verbs.items():
            sub = verbs.add_parser(name, help=text, description=text)
            self._verb(name, "args")(sub)

    def _verb(self, name: str, kind: str) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(self, f"{kind}_{name.replace('-', '_')}")
        return method

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._verb(options["verb"], "do")(**options)
        except CloudError as err:
            raise CommandError(str(err)) from err

    def emit(self, options: Mapping[str, Any], data: Any, text: str) -> None:
        """Write `data` as JSON with --json, else `text`."""
        self.stdout.write(json.dumps(data, indent=2, default=str) if options["json"] else text)


def add_json(parser: argparse.ArgumentParser) -> None:
    """The --json flag of a verb that prints something."""
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def device_summary(device: Device, *, now: datetime) -> dict[str, Any]:
    """A device as the commands print it (site, health and tags loaded with it)."""
    health = getattr(device, "health", None)
    return {
        "id": device.id,
        "name": device.name,
        "site": device.site_id,
        "hardware_profile": device.hardware_profile,
        "agent_version": device.agent_version,
        "tags": [tag.id for tag in device.tags.all()],
        "status": device.status,
        "health": str(health_of(device, health, now=now)),
        "last_seen": device.last_seen.isoformat() if device.last_seen else None,
        "last_heartbeat": health.received_at.isoformat() if health else None,
    }
