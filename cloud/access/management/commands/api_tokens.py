"""``python -m cloud api_tokens VERB``: users' tokens for the JSON API.

api_tokens create USERNAME NAME [--json]   (prints the token once)
api_tokens list [--user USERNAME] [--json]
api_tokens revoke ID
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, ClassVar

from django.contrib.auth import get_user_model

from cloud.access import tokens
from cloud.access.models import ApiToken
from cloud.errors import NotFound
from cloud.fleet.management.nouns import NounCommand, add_json


class Command(NounCommand):
    help = "Create, list and revoke users' API tokens."
    verbs: ClassVar[Mapping[str, str]] = {
        "create": "Make a token for a user and print it (shown only this once).",
        "list": "List tokens (never the tokens themselves) with their last use.",
        "revoke": "Revoke a token by its id.",
    }

    def args_create(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("name", help="what uses the token")
        add_json(parser)

    def do_create(self, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise NotFound(f"no user {options['username']!r}; 'users list' lists them")
        row, token = tokens.create_token(user.pk, options["name"])
        data = {**tokens.token_summary(row), "user": user.get_username(), "token": token}
        self.emit(options, data, f"{token}\n(token {row.pk}; it is not shown again)")

    def args_list(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--user", default="", help="only this user's tokens")
        add_json(parser)

    def do_list(self, **options: Any) -> None:
        rows = ApiToken.objects.select_related("user")
        if options["user"]:
            rows = rows.filter(user__username=options["user"])
        data = [{**tokens.token_summary(row), "user": row.user.get_username()} for row in rows]
        lines = [
            f"{d['id']} {d['user']} {d['name']!r} {d['hint']}…"
            f" last used {d['last_used_at'] or 'never'}"
            + (f", revoked {d['revoked_at']}" if d["revoked_at"] else "")
            for d in data
        ]
        self.emit(options, data, "\n".join(lines) or "no API tokens")

    def args_revoke(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("id", type=int)

    def do_revoke(self, **options: Any) -> None:
        row = tokens.revoke_token(options["id"])
        self.stdout.write(f"token {row.pk} ({row.name}) revoked at {row.revoked_at}")
