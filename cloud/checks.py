"""System checks run by `python -m cloud check` and before `migrate` and `runserver`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def sqlite_folder_check(
    *, app_configs: Sequence[AppConfig] | None, databases: Sequence[str] | None, **kwargs: Any
) -> list[CheckMessage]:
    """Report a missing folder for an SQLite database before SQLite's bare "unable to open"."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.sqlite3" or database["NAME"] == ":memory:":
        return []
    folder = Path(database["NAME"]).parent
    if folder.is_dir():
        return []
    return [
        Error(
            f"SQLite database folder {folder} does not exist",
            hint="Create it, or point SIGHTLINE_CLOUD_DATABASE_URL (or _DATA_DIR) elsewhere.",
            id="cloud.E001",
        )
    ]
