"""Fixtures for tests that use the real services started by `tests/services/manage.py up`.

Configuration comes from the environment only (the variables in tests/services/contract.py;
`set -a; . .services/env` exports them); no file is read here. A test whose service variable is
missing is skipped with the variable's name, or fails when CI is set.

Session fixtures give connection settings and shared clients. Per-test fixtures give each test
its own namespace named after its node id, made fresh and removed afterwards: a database, empty
(`postgres_database`) or migrated (`migrated_postgres_database`), a key prefix (`redis_prefix`),
a bucket (`s3_bucket`), a collection (`weaviate_collection`) and an MQTT site (`mqtt_site`).

Client libraries are imported inside the fixtures, so unit tests never pay for (or need) them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar
from urllib.parse import urlsplit

import pytest

from tests.services import contract
from tests.services.contract import MissingVariable, MqttBroker, S3Server, WeaviateServer
from tests.services.namespaces import isolated_name

if TYPE_CHECKING:
    import psycopg
    import redis
    from minio import Minio
    from weaviate import WeaviateClient

    from cloud.fleet.broker import MosquittoAccounts
    from tests.services.rtsp_server import RtspServer

T = TypeVar("T")
START_HINT = "run `python3 tests/services/manage.py up` and `set -a; . .services/env`"


def _unavailable(name: str) -> NoReturn:
    _skip_or_fail(f"{name} is not set: {START_HINT}")


def _skip_or_fail(reason: str) -> NoReturn:
    """Skip the test for `reason`, or fail it when CI is set (nothing may be missing there)."""
    if os.environ.get(contract.CI, "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (CI is set, so a missing service is an error)", pytrace=False)
    pytest.skip(reason)


def _from_env(read: Callable[[Mapping[str, str]], T]) -> T:
    try:
        return read(os.environ)
    except MissingVariable as missing:
        name = missing.name
    # Outside the except block, so the report is the reason alone, not a chained traceback.
    _unavailable(name)


# Session settings ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the test role, which may CREATE DATABASE (prefer `postgres_database`)."""
    return _from_env(lambda env: contract.require(env, contract.DATABASE_URL))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test Redis, database 0 (prefer `redis_prefix` for keys)."""
    return _from_env(lambda env: contract.require(env, contract.REDIS_URL))


@pytest.fixture(scope="session")
def mqtt_broker() -> MqttBroker:
    """The Mosquitto broker, its topic prefix, the admin account and two device accounts."""
    return _from_env(MqttBroker.from_env)


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    """The S3 endpoint (`host:port`, plain HTTP) and its access/secret key."""
    return _from_env(S3Server.from_env)


@pytest.fixture(scope="session")
def weaviate_server() -> WeaviateServer:
    """The Weaviate REST URL and gRPC port."""
    return _from_env(WeaviateServer.from_env)


# Session clients -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_client(s3_server: S3Server) -> Minio:
    """A MinIO SDK client holding the test credentials."""
    from minio import Minio

    return Minio(
        s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        secure=False,
    )


@pytest.fixture(scope="session")
def weaviate_client(weaviate_server: WeaviateServer) -> Iterator[WeaviateClient]:
    """A connected Weaviate v4 client, closed at the end of the session."""
    import weaviate

    client = weaviate.connect_to_custom(
        http_host=weaviate_server.host,
        http_port=weaviate_server.http_port,
        http_secure=False,
        grpc_host=weaviate_server.host,
        grpc_port=weaviate_server.grpc_port,
        grpc_secure=False,
        # The start-up checks ask the public package index for the latest client version:
        # no network here, and tests must not depend on one.
        skip_init_checks=True,
    )
    try:
        yield client
    finally:
        client.close()


# Per-test namespaces ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_token() -> str:
    """Random per test run, for names that cannot be removed afterwards (MQTT retained state)."""
    return secrets.token_hex(3)


@pytest.fixture
def postgres_database(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of an empty database created for this test and dropped after it."""
    name = isolated_name(request.node.nodeid, prefix="t", separator="_", max_length=63)
    with _database(postgres_url, name) as url:
        yield url


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_url: str, session_token: str) -> Iterator[str]:
    """Name of a database migrated once per run by `python -m cloud migrate`, the deployment's
    own entry point, for `migrated_postgres_database` to copy.

    Migrating every test's database anew cost each test seconds of Django start-up and schema
    work; a copy from a template is a file copy inside PostgreSQL (a fraction of a second).
    """
    from tests.cloud.ingest.processes import cloud_env, run_cloud

    with _database(postgres_url, f"template_migrated_{session_token}") as url:
        run_cloud(cloud_env({"SIGHTLINE_CLOUD_DATABASE_URL": url}), "migrate", "--noinput")
        yield urlsplit(url).path.lstrip("/")


@pytest.fixture
def migrated_postgres_database(
    postgres_url: str, migrated_postgres_template: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """URL of a database for this test with every migration applied (a copy of the run's
    migrated template), dropped after it. Tests of the migrations themselves start from
    `postgres_database` instead."""
    name = isolated_name(request.node.nodeid, prefix="t", separator="_", max_length=63)
    with _database(postgres_url, name, template=migrated_postgres_template) as url:
        yield url


@contextlib.contextmanager
def _database(postgres_url: str, name: str, template: str | None = None) -> Iterator[str]:
    """Create database `name` (a copy of `template` when given), yield its URL, drop it."""
    import psycopg
    from psycopg.sql import SQL, Identifier

    create = SQL("CREATE DATABASE {}").format(Identifier(name))
    if template is not None:
        create = SQL("{} TEMPLATE {}").format(create, Identifier(template))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        _drop_database(admin, name)
        admin.execute(create)
    try:
        yield urlsplit(postgres_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            _drop_database(admin, name)


def _drop_database(admin: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    import psycopg

    # FORCE ends sessions a test left open, which would otherwise block the drop.
    statement = psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    admin.execute(statement.format(psycopg.sql.Identifier(name)))


@pytest.fixture
def redis_prefix(redis_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A key prefix (ending in ":") whose keys are deleted before and after the test."""
    import redis

    prefix = isolated_name(request.node.nodeid, prefix="t", separator="_", max_length=96) + ":"
    with redis.Redis.from_url(redis_url) as client:
        _delete_prefixed(client, prefix)
        try:
            yield prefix
        finally:
            _delete_prefixed(client, prefix)


def _delete_prefixed(client: redis.Redis, prefix: str) -> None:
    # The prefix holds only [a-z0-9_:], none of which is special in a SCAN pattern.
    for key in client.scan_iter(match=f"{prefix}*", count=500):
        client.delete(key)


@pytest.fixture
def s3_bucket(s3_client: Minio, request: pytest.FixtureRequest) -> Iterator[str]:
    """A bucket created empty for this test, emptied and removed after it."""
    name = isolated_name(request.node.nodeid, prefix="t", separator="-", max_length=63)
    _remove_bucket(s3_client, name)
    s3_client.make_bucket(name)
    try:
        yield name
    finally:
        _remove_bucket(s3_client, name)


def _remove_bucket(client: Minio, name: str) -> None:
    if not client.bucket_exists(name):
        return
    for item in client.list_objects(name, recursive=True):
        if item.object_name is not None:
            client.remove_object(name, item.object_name)
    client.remove_bucket(name)


@pytest.fixture
def weaviate_collection(
    weaviate_client: WeaviateClient, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A collection name for this test; the collection is deleted before and after it."""
    # Weaviate collection names start with an upper-case letter.
    name = isolated_name(request.node.nodeid, prefix="Test", separator="_", max_length=63)
    weaviate_client.collections.delete(name)
    try:
        yield name
    finally:
        weaviate_client.collections.delete(name)


@pytest.fixture(scope="session")
def mqtt_accounts(mqtt_broker: MqttBroker) -> MosquittoAccounts:
    """The broker's account API (dynamic security), logged in as the test admin."""
    from pydantic import SecretStr

    from cloud.fleet.broker import BrokerAdminSettings, MosquittoAccounts

    return MosquittoAccounts(
        BrokerAdminSettings(
            host=mqtt_broker.host,
            port=mqtt_broker.port,
            username=mqtt_broker.admin.username,
            password=SecretStr(mqtt_broker.admin.password),
            topic_prefix=mqtt_broker.topic_prefix,
        )
    )


@pytest.fixture
def mqtt_site(
    mqtt_broker: MqttBroker,
    mqtt_accounts: MosquittoAccounts,
    session_token: str,
    request: pytest.FixtureRequest,
) -> str:
    """A `<site>` topic segment of this test's own, as in `<prefix>/v1/<site>/<device>/...`.

    Both test device accounts are (re)made for this site: bound to their client ids and
    confined to their own topics under it, as enrolment makes them. Retained messages cannot be
    listed and removed reliably, so the run's random token makes the site new on every run.
    """
    site = isolated_name(request.node.nodeid, prefix="site", separator="-", max_length=56)
    site = f"{site}-{session_token}"
    for device in (mqtt_broker.device, mqtt_broker.device2):
        mqtt_accounts.put_device(device.username, site, device.password)
    return site


@pytest.fixture
def rtsp_cameras() -> Iterator[Callable[..., RtspServer]]:
    """Starts RTSP test cameras (`tests.services.rtsp_server.RtspServer(video, user=...,
    password=...)`, started), each killed at the end of the test. Skips the test (fails it with
    CI set) where the server cannot run."""
    from tests.services.rtsp_server import RtspServer, unavailable

    reason = unavailable()
    if reason is not None:
        _skip_or_fail(reason)
    started: list[RtspServer] = []

    def start(video: Path, *, user: str | None = None, password: str | None = None) -> RtspServer:
        server = RtspServer(video, user=user, password=password)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.kill()
