"""Devices stored under fleet migration 0002 (free-text site), and what 0003 and 0004 make of
them: shared by the SQLite test and the PostgreSQL one (tests/integration)."""

from __future__ import annotations

import textwrap
from typing import Any

MIGRATE_LEGACY_SITES = textwrap.dedent(
    """
    import json

    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    call_command("migrate", "fleet", "0002_device_health", verbosity=0)
    state = MigrationExecutor(connection).loader.project_state(("fleet", "0002_device_health"))
    Device = state.apps.get_model("fleet", "Device")
    for device_id, site in [
        ("a", "hq"), ("b", "hq"), ("c", ""), ("d", "Main Hall"), ("e", "Main-Hall"),
    ]:
        Device.objects.create(id=device_id, site=site, hardware_profile="x86-cpu")

    call_command("migrate", verbosity=0)
    from cloud.fleet.models import Device, Site

    print(json.dumps({
        "devices": dict(Device.objects.values_list("id", "site_id")),
        "sites": dict(Site.objects.values_list("id", "name")),
    }))
    """
)


def assert_migrated(outcome: dict[str, Any]) -> None:
    """Check what `MIGRATE_LEGACY_SITES` printed: one Site per former value, blank is the
    default site, and a value outside the name grammar gets an id made from it."""
    assert outcome["devices"] == {
        "a": "hq",
        "b": "hq",
        "c": "default",
        "d": "Main-Hall-2",
        "e": "Main-Hall",
    }
    assert outcome["sites"] == {
        "default": "",
        "hq": "",
        "Main-Hall": "",
        "Main-Hall-2": "Main Hall",
    }
