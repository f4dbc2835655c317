from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from cloud.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_secret,
    env_str,
    parse_database_url,
)

NAME = "SIGHTLINE_CLOUD_TEST_VALUE"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(NAME, raising=False)
    monkeypatch.delenv(f"{NAME}_FILE", raising=False)


def test_it_raises_for_a_missing_required_value() -> None:
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} is required"):
        env_str(NAME)


def test_it_treats_an_empty_value_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "  ")
    assert env_str(NAME, "fallback") == "fallback"


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("On", True), ("0", False)])
def test_it_parses_booleans(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv(NAME, raw)
    assert env_bool(NAME) is expected


def test_it_rejects_a_boolean_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "maybe")
    with pytest.raises(ImproperlyConfigured, match="must be true or false"):
        env_bool(NAME, default=False)


def test_it_parses_integers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "300")
    assert env_int(NAME, 5) == 300


def test_it_rejects_a_bad_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "5m")
    with pytest.raises(ImproperlyConfigured, match=f"{NAME} must be an integer"):
        env_int(NAME, 5)


def test_it_rejects_an_integer_below_the_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "-1")
    with pytest.raises(ImproperlyConfigured, match="at least 0"):
        env_int(NAME, 5, minimum=0)


def test_it_splits_lists_and_drops_empty_items(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "cloud.example, localhost,,")
    assert env_list(NAME) == ["cloud.example", "localhost"]


def test_it_rejects_a_value_outside_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NAME, "ftp")
    with pytest.raises(ImproperlyConfigured, match="must be one of local, s3"):
        env_choice(NAME, ("local", "s3"), default="local")


def test_it_reads_a_secret_from_the_file_named_by_the_file_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t with spaces\n", encoding="utf-8")
    monkeypatch.setenv(f"{NAME}_FILE", str(secret_file))
    assert env_secret(NAME) == "s3cr3t with spaces"


def test_it_prefers_neither_form_when_both_are_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file", encoding="utf-8")
    monkeypatch.setenv(NAME, "from-env")
    monkeypatch.setenv(f"{NAME}_FILE", str(secret_file))
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_secret(NAME)


def test_it_names_the_variable_when_the_secret_file_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{NAME}_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured, match=f"{NAME}_FILE: cannot read"):
        env_secret(NAME)


def test_it_parses_a_postgresql_url() -> None:
    config = parse_database_url(
        "postgresql://sight%40line:p%2Fss@db.internal:6543/fleet?sslmode=require"
    )
    assert config == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "fleet",
        "USER": "sight@line",
        "PASSWORD": "p/ss",
        "HOST": "db.internal",
        "PORT": "6543",
        "OPTIONS": {"sslmode": "require"},
    }


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:////var/lib/sightline/cloud.sqlite3", "/var/lib/sightline/cloud.sqlite3"),
        ("sqlite:///cloud.sqlite3", "cloud.sqlite3"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_it_parses_sqlite_urls(url: str, name: str) -> None:
    parsed = parse_database_url(url)
    assert (parsed["ENGINE"], parsed["NAME"]) == ("django.db.backends.sqlite3", name)


def test_sqlite_waits_for_other_processes_instead_of_failing() -> None:
    options = parse_database_url("sqlite:///cloud.sqlite3")["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in options["init_command"]
    assert options["timeout"] >= 5


def test_it_rejects_an_unknown_scheme_without_echoing_the_password() -> None:
    with pytest.raises(ImproperlyConfigured, match="'mysql' is not supported") as caught:
        parse_database_url("mysql://root:hunter2@db/fleet")
    assert "hunter2" not in str(caught.value)


def test_it_rejects_a_postgresql_url_without_a_database() -> None:
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        parse_database_url("postgresql://user:pw@db:5432/")
