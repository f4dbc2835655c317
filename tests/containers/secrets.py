"""The compose stack's secrets, one file each, as docker/compose.yaml mounts them.

Kept when present: the stack's volumes (the database cluster, the broker's accounts) were made
with them. The folder is the protection (0700, its owner only); the files inside are readable
by all because rootful podman bind-mounts them as they are, and the servers read them as their
own unprivileged users.
"""

from __future__ import annotations

import secrets
from pathlib import Path

NAMES = ("postgres_password", "database_url", "secret_key", "s3_secret_key", "mqtt_admin_password")


def write(folder: Path) -> dict[str, str]:
    """Make the missing secrets in `folder`; return every secret by name."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    values: dict[str, str] = {}
    for name in NAMES:
        path = folder / name
        if path.is_file():
            values[name] = path.read_text(encoding="utf-8")
            continue
        if name == "database_url":
            value = f"postgresql://sightline:{values['postgres_password']}@127.0.0.1:5432/sightline"
        else:
            value = secrets.token_urlsafe(32)
        path.write_text(value, encoding="utf-8")
        path.chmod(0o644)
        values[name] = value
    return values
