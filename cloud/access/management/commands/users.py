"""``python -m cloud users VERB``: users, their roles and what they may see.

users create USERNAME [--role R] [--email E]
users set-role USERNAME ROLE [--json]
users grant USERNAME [--[no-]all-sites] [--site S ...] [--group SITE/NAME ...] [--remove] [--json]
users list [--json]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, ClassVar

from django.contrib.auth import get_user_model

from cloud.access import grants
from cloud.access.models import Role
from cloud.fleet.management.nouns import NounCommand, add_json


def _line(row: Mapping[str, Any]) -> str:
    seen = "all sites" if row["all_sites"] else ", ".join(row["sites"] + row["groups"]) or "nothing"
    inactive = "" if row["active"] else " (inactive)"
    return f"{row['username']}{inactive}: {row['role']}, sees {seen}"


class Command(NounCommand):
    help = "Create users, set their roles and grant them sites and camera groups."
    verbs: ClassVar[Mapping[str, str]] = {
        "create": "Create a user (no password: set one with 'changepassword').",
        "set-role": "Set a user's role: viewer, labeler, operator or admin.",
        "grant": "Grant a user sites or camera groups (SITE/NAME), or all sites.",
        "list": "List users with their roles and grants.",
    }

    def args_create(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=Role.values, default=Role.VIEWER.value)
        parser.add_argument("--email", default="")
        add_json(parser)

    def do_create(self, **options: Any) -> None:
        user = grants.create_user(options["username"], role=options["role"], email=options["email"])
        row = grants.describe(user)
        self.emit(options, row, f"created {_line(row)}")

    def args_set_role(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("role", choices=Role.values)
        add_json(parser)

    def do_set_role(self, **options: Any) -> None:
        access = grants.set_role(options["username"], options["role"])
        row = grants.describe(access.user)
        self.emit(options, row, _line(row))

    def args_grant(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--all-sites",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="see every camera (--no-all-sites: only the granted ones)",
        )
        parser.add_argument("--site", action="append", default=[], help="a site id (repeat)")
        parser.add_argument(
            "--group", action="append", default=[], metavar="SITE/NAME", help="a camera group"
        )
        parser.add_argument("--remove", action="store_true", help="take the sites/groups away")
        add_json(parser)

    def do_grant(self, **options: Any) -> None:
        access = grants.grant(
            options["username"],
            all_sites=options["all_sites"],
            sites=options["site"],
            groups=options["group"],
            remove=options["remove"],
        )
        row = grants.describe(access.user)
        self.emit(options, row, _line(row))

    def args_list(self, parser: argparse.ArgumentParser) -> None:
        add_json(parser)

    def do_list(self, **options: Any) -> None:
        users = get_user_model().objects.order_by("username")
        rows = [grants.describe(user) for user in users]
        self.emit(options, rows, "\n".join(_line(row) for row in rows) or "no users")
