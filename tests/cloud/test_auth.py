from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "login"),
    [
        ("/", "/login/?next=/"),
        ("/?label=person", "/login/?next=/%3Flabel%3Dperson"),
        ("/admin/", "/admin/login/?next=/admin/"),
    ],
)
def test_it_sends_anonymous_users_to_a_login_page(client: Client, path: str, login: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == login


@pytest.mark.django_db
def test_it_shows_the_login_page_to_anonymous_users(client: Client) -> None:
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content


@pytest.mark.django_db
def test_it_logs_a_user_in_and_back_out(client: Client) -> None:
    User.objects.create_user("operator", password="correct horse battery")
    response = client.post("/login/", {"username": "operator", "password": "correct horse battery"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_it_rejects_a_wrong_password(client: Client) -> None:
    User.objects.create_user("operator", password="correct horse battery")
    response = client.post("/login/", {"username": "operator", "password": "wrong"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_it_creates_a_superuser_from_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.core.management import call_command

    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "an admin passphrase")
    call_command(
        "createsuperuser", "--noinput", username="admin", email="admin@example.com", verbosity=0
    )
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.check_password("an admin passphrase")
