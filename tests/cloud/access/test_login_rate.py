"""Login rate limiting (django-axes): a username is locked out from an address after the
failure limit, with a page that says so, while other users and addresses still log in."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.users import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Every attempt checks a password: the production hasher's slowness is not under test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def log_in(client: Client, username: str, password: str) -> int:
    response = client.post("/login/", {"username": username, "password": password})
    return response.status_code


@pytest.fixture
def users(db: None) -> None:
    make_user("alice", password=PASSWORD)
    make_user("bob", password=PASSWORD)


def test_it_locks_a_username_out_after_the_failure_limit(client: Client, users: None) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    assert [log_in(client, "alice", "wrong") for _ in range(limit - 1)] == [200] * (limit - 1)
    locked = client.post("/login/", {"username": "alice", "password": "wrong"})
    assert locked.status_code == 429
    html = locked.content.decode()
    assert "Too many failed logins for alice" in html
    assert "paused for 15 minutes" in html
    # Even the right password waits now, and no session is made.
    assert log_in(client, "alice", PASSWORD) == 429
    assert client.get("/").status_code == 302


def test_a_lockout_is_per_username_and_address(client: Client, users: None) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "alice", "wrong")
    assert log_in(client, "bob", PASSWORD) == 302
    elsewhere = Client(REMOTE_ADDR="192.0.2.7")
    assert log_in(elsewhere, "alice", PASSWORD) == 302


def test_a_successful_login_resets_the_count(client: Client, users: None) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "alice", "wrong")
    assert log_in(client, "alice", PASSWORD) == 302
    client.post("/logout/")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "alice", "wrong") == 200
