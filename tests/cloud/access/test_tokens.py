"""API tokens: made per user and shown once, kept as a digest, revocable, with their last use;
the tokens page; the ``api_tokens`` and ``users`` commands."""

from __future__ import annotations

import hashlib
import importlib
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from cloud.access import tokens
from cloud.access.models import Access, ApiToken, Role
from cloud.errors import InvalidInput, NotFound
from tests.cloud.access.fleet import Fleet, scoped_fleet
from tests.users import make_user

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_a_token_is_kept_only_as_its_digest() -> None:
    user = make_user("scripter")
    row, token = tokens.create_token(user.pk, " nightly report ")
    assert token.startswith("slt_")
    assert len(token) > 40
    assert row.name == "nightly report"
    assert row.token_sha256 == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps(tokens.token_summary(row), default=str)
    assert row.hint == token[:8]


def test_a_token_acts_as_its_user_and_records_its_use() -> None:
    user = make_user("scripter")
    row, token = tokens.create_token(user.pk, "report")
    assert row.last_used_at is None
    assert tokens.user_of_token(token) == user
    first = ApiToken.objects.get().last_used_at
    assert first is not None
    # Within a minute, a second call does not write again.
    tokens.user_of_token(token)
    assert ApiToken.objects.get().last_used_at == first
    ApiToken.objects.update(last_used_at=first - timedelta(minutes=2))
    tokens.user_of_token(token)
    assert ApiToken.objects.get().last_used_at > first - timedelta(minutes=1)


@pytest.mark.parametrize("guess", ["", "slt_", "slt_" + "A" * 43, "Bearer x", "not-a-token"])
def test_an_unknown_token_acts_as_nobody(guess: str) -> None:
    tokens.create_token(make_user("scripter").pk, "report")
    assert tokens.user_of_token(guess) is None


def test_a_revoked_token_or_an_inactive_user_s_token_stops_working() -> None:
    user = make_user("scripter")
    row, token = tokens.create_token(user.pk, "report")
    _, other_token = tokens.create_token(user.pk, "other")
    revoked = tokens.revoke_token(row.pk, user_id=user.pk)
    assert revoked.revoked_at is not None
    assert tokens.user_of_token(token) is None
    assert tokens.user_of_token(other_token) == user
    user.is_active = False
    user.save()
    assert tokens.user_of_token(other_token) is None


def test_a_user_cannot_revoke_someone_else_s_token() -> None:
    row, _ = tokens.create_token(make_user("alice").pk, "report")
    with pytest.raises(NotFound):
        tokens.revoke_token(row.pk, user_id=make_user("mallory").pk)


def test_a_token_needs_a_name() -> None:
    with pytest.raises(InvalidInput, match="name"):
        tokens.create_token(make_user("scripter").pk, "  ")


def test_the_tokens_page_shows_a_new_token_once_and_revokes_it(client: Client) -> None:
    client.force_login(make_user("scripter"))
    made = client.post("/account/tokens/", {"name": "report"})
    token = made.context["issued"]
    assert token in made.content.decode()
    listed = client.get("/account/tokens/").content.decode()
    assert token not in listed
    assert "report" in listed
    assert "never" in listed
    row = ApiToken.objects.get()
    assert client.post(f"/account/tokens/{row.pk}/revoke/").status_code == 302
    assert tokens.user_of_token(token) is None
    assert "revoked" in client.get("/account/tokens/").content.decode()


def test_the_tokens_page_refuses_a_blank_name_and_others_tokens(client: Client) -> None:
    other, _ = tokens.create_token(make_user("alice").pk, "hers")
    client.force_login(make_user("scripter"))
    assert client.post("/account/tokens/", {"name": ""}).status_code == 400
    assert client.post(f"/account/tokens/{other.pk}/revoke/").status_code == 404
    assert ApiToken.objects.get().revoked_at is None


def test_the_command_makes_lists_and_revokes_tokens() -> None:
    make_user("scripter")
    made = json.loads(run("api_tokens", "create", "scripter", "ci", "--json"))
    assert made["user"] == "scripter"
    assert tokens.user_of_token(made["token"]) is not None
    listed = json.loads(run("api_tokens", "list", "--json"))
    assert [(t["id"], t["name"], t["user"]) for t in listed] == [(made["id"], "ci", "scripter")]
    assert "token" not in listed[0]
    run("api_tokens", "revoke", str(made["id"]))
    assert tokens.user_of_token(made["token"]) is None
    with pytest.raises(CommandError, match="no user 'nobody'"):
        run("api_tokens", "create", "nobody", "ci")


@pytest.fixture
def fleet(db: None) -> Fleet:
    return scoped_fleet()


def test_the_users_command_creates_users_sets_roles_and_grants(fleet: Fleet) -> None:
    created = json.loads(run("users", "create", "door", "--role", "labeler", "--json"))
    assert created == {
        "username": "door",
        "active": True,
        "role": "labeler",
        "all_sites": False,
        "sites": [],
        "groups": [],
    }
    assert not User.objects.get(username="door").has_usable_password()
    granted = json.loads(
        run("users", "grant", "door", "--group", "hq/entrances", "--site", "depot", "--json")
    )
    assert (granted["sites"], granted["groups"]) == (["depot"], ["hq/entrances"])
    promoted = run("users", "set-role", "door", "operator")
    assert "door: operator, sees depot, hq/entrances" in promoted
    (listed,) = json.loads(run("users", "list", "--json"))
    assert listed["role"] == "operator"
    assert listed["sites"] == ["depot"]
    assert listed["groups"] == ["hq/entrances"]
    run("users", "grant", "door", "--site", "depot", "--remove", "--all-sites")
    access = Access.objects.get(user__username="door")
    assert access.all_sites
    assert list(access.sites.all()) == []
    assert "door: operator, sees all sites" in run("users", "list")


def test_the_admin_role_and_superuser_go_together() -> None:
    run("users", "create", "boss", "--role", "admin")
    boss = User.objects.get(username="boss")
    assert boss.is_superuser
    assert boss.is_staff
    run("users", "set-role", "boss", "viewer")
    boss.refresh_from_db()
    assert not boss.is_superuser
    assert Access.objects.get(user=boss).role == Role.VIEWER


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "grant", "ghost", "--site", "hq"), "no user 'ghost'"),
        (("users", "grant", "door", "--site", "nowhere"), "no site 'nowhere'"),
        (("users", "grant", "door", "--group", "entrances"), "SITE/NAME"),
        (("users", "grant", "door", "--group", "hq/ghosts"), "no camera group 'hq/ghosts'"),
        (("users", "create", "door"), "exists"),
    ],
)
def test_the_users_command_says_what_is_wrong(
    fleet: Fleet, args: tuple[str, ...], message: str
) -> None:
    make_user("door")
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_existing_users_keep_what_they_had_after_the_access_migration() -> None:
    migration = importlib.import_module("cloud.access.migrations.0002_existing_users")
    User.objects.create_superuser("root")
    User.objects.create_user("staff", is_staff=True)
    User.objects.create_user("plain")
    make_user("granted", Role.LABELER, all_sites=False)
    migration.grant_existing(apps, None)
    roles = {
        access.user.username: (access.role, access.all_sites)
        for access in Access.objects.select_related("user")
    }
    assert roles == {
        "root": ("admin", True),
        "staff": ("operator", True),
        "plain": ("viewer", True),
        "granted": ("labeler", False),
    }
