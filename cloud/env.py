"""Typed readers for the cloud's environment variables.

`cloud.settings` reads the environment only through these helpers, so that every value is
parsed in one way and every bad value fails at startup with `ImproperlyConfigured` naming the
variable (never its value: it may be a secret).

An empty value counts as unset, because compose files and Kubernetes manifests often export
``NAME=`` for options they leave alone. A helper called without a default treats a missing
value as an error: production-only settings have no defaults.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _missing(name: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name} is required")


def env_str(name: str, default: str | None = None) -> str:
    """Return the variable's value, or `default`; raise when both are missing."""
    value = _raw(name)
    if value is not None:
        return value
    if default is None:
        raise _missing(name)
    return default


def env_bool(name: str, default: bool | None = None) -> bool:
    """Parse true/false, yes/no, on/off or 1/0 (any case)."""
    value = _raw(name)
    if value is None:
        if default is None:
            raise _missing(name)
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_optional_bool(name: str) -> bool | None:
    """As `env_bool`, but None when the variable is unset: the setting then decides itself."""
    return None if _raw(name) is None else env_bool(name)


def env_int(name: str, default: int | None = None, *, minimum: int | None = None) -> int:
    """Parse a base-10 integer, optionally no smaller than `minimum`."""
    value = _raw(name)
    if value is None:
        if default is None:
            raise _missing(name)
        return default
    try:
        number = int(value, 10)
    except ValueError as err:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from err
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_list(name: str, default: Sequence[str] | None = None) -> list[str]:
    """Split a comma-separated value into its non-empty, stripped items."""
    value = _raw(name)
    if value is None:
        if default is None:
            raise _missing(name)
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, choices: Sequence[str], default: str | None = None) -> str:
    """Return the value if it is one of `choices` (used for backend `type` keys)."""
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def env_path(name: str, default: Path) -> Path:
    """Return the value as a path with ``~`` expanded; nothing is created on disk."""
    return Path(env_str(name, str(default))).expanduser()


def env_secret(name: str, default: str | None = None) -> str:
    """Read a secret from `name`, or from the file that `<name>_FILE` points at.

    The file form is what Docker and Kubernetes secrets mount. One trailing newline is dropped
    because editors and ``echo`` add it. Setting both forms is an error rather than a silent
    precedence rule.
    """
    file_name = f"{name}_FILE"
    value, path = _raw(name), _raw(file_name)
    if value is not None and path is not None:
        raise ImproperlyConfigured(f"set {name} or {file_name}, not both")
    if path is None:
        return env_str(name, default)
    try:
        secret = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ImproperlyConfigured(f"{file_name}: cannot read {path}: {err.strerror}") from err
    secret = secret.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise ImproperlyConfigured(f"{file_name}: {path} is empty")
    return secret


def parse_database_url(url: str) -> dict[str, Any]:
    """Turn a database URL into a Django ``DATABASES`` entry.

    ``postgresql://user:pass@host:port/name?sslmode=require`` selects the PostgreSQL backend
    (psycopg 3); query parameters become connection ``OPTIONS``. ``sqlite:///relative.db`` and
    ``sqlite:////absolute/path.db`` select SQLite (the dj-database-url convention: the path is
    what follows the third slash). Error messages never repeat the URL, which holds a password.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": unquote(parts.path[1:]) or ":memory:",
            # Several processes (web, ingest, bridge, worker) share the file: WAL lets readers
            # run beside the writer, and IMMEDIATE transactions take the write lock up front,
            # so a busy database waits (`timeout`) instead of failing a deferred upgrade.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if parts.scheme in ("postgres", "postgresql"):
        name = unquote(parts.path[1:])
        if not name:
            raise ImproperlyConfigured("database URL names no database")
        try:
            port = parts.port
        except ValueError as err:
            raise ImproperlyConfigured("database URL has an invalid port") from err
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
        }
    raise ImproperlyConfigured(
        f"database URL scheme {parts.scheme!r} is not supported (use postgresql:// or sqlite://)"
    )
