"""A throwaway PostgreSQL database for benchmarks that drive the cloud's Django code in process:
made on the test services' server, migrated, dropped afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg


class ServicesMissing(SystemExit):
    """The test services' environment is not loaded."""


@contextmanager
def bench_database(name: str) -> Iterator[str]:
    """Django set up on a fresh, migrated database `name`; yields its URL, drops it after.

    Raises `ServicesMissing` (exit status 2) when `SIGHTLINE_TEST_DATABASE_URL` is not set.
    """
    server = os.environ.get("SIGHTLINE_TEST_DATABASE_URL")
    if not server:
        print("SIGHTLINE_TEST_DATABASE_URL is not set: source the test services' env")
        raise ServicesMissing(2)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    url = urlsplit(server)._replace(path=f"/{name}").geturl()
    try:
        os.environ.update(
            SIGHTLINE_CLOUD_SECRET_KEY="bench-only-secret-key-that-is-long-enough-0123456789",
            SIGHTLINE_CLOUD_ALLOWED_HOSTS="localhost",
            SIGHTLINE_CLOUD_DATABASE_URL=url,
            SIGHTLINE_CLOUD_CELERY_BROKER_URL="memory://",
            DJANGO_SETTINGS_MODULE="cloud.settings",
        )
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        yield url
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
