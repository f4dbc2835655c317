"""``python -m cloud sites VERB``: the places devices are installed at.

sites add ID [--name N]     add a site, or rename one
sites list [--json]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, ClassVar

from django.db.models import Count

from cloud.fleet import registry
from cloud.fleet.management.nouns import NounCommand, add_json
from cloud.fleet.models import Site


class Command(NounCommand):
    help = "Add, rename and list sites."
    verbs: ClassVar[Mapping[str, str]] = {
        "add": "Add a site, or rename it; its id is an MQTT topic level (letters, digits, _ . -).",
        "list": "List sites with their device counts.",
    }

    def args_add(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("site_id")
        parser.add_argument("--name", default="", help="display name")

    def do_add(self, **options: Any) -> None:
        created = registry.save_site(options["site_id"], name=options["name"])
        self.stdout.write(f"{options['site_id']}: {'added' if created else 'renamed'}")

    def args_list(self, parser: argparse.ArgumentParser) -> None:
        add_json(parser)

    def do_list(self, **options: Any) -> None:
        sites = Site.objects.values("id", "name").annotate(count=Count("devices")).order_by("id")
        rows = [{"id": s["id"], "name": s["name"], "devices": s["count"]} for s in sites]
        lines = [f"{r['id']:<24} {r['devices']:>6} devices  {r['name']}" for r in rows]
        self.emit(options, rows, "\n".join(lines) or "no sites")
