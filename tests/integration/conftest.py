"""Cloud processes shared by the integration tests.

The fixtures need an `env` fixture (the cloud's environment for this test: database, stores,
broker) from the test module that uses them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from demo import stack
from sightline.ingest.v1 import ingest_pb2_grpc
from tests.cloud.ingest.processes import (
    Background,
    celery_worker,
    cloud_command,
    storage_variables,
)
from tests.cloud.ingest.uploads import Ingest
from tests.services.contract import S3Server, WeaviateServer


@pytest.fixture
def storage_env(
    migrated_postgres_database: str,
    s3_server: S3Server,
    s3_bucket: str,
    weaviate_server: WeaviateServer,
    weaviate_collection: str,
    redis_url: str,
    redis_prefix: str,
) -> dict[str, str]:
    """Cloud settings for this test's database (migrated), bucket, Weaviate collection and Redis
    prefix."""
    return storage_variables(
        database_url=migrated_postgres_database,
        s3=s3_server,
        bucket=s3_bucket,
        weaviate=weaviate_server,
        collection=weaviate_collection,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
    )


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[Background]:
    """A Celery worker of the `embed` queue, connected to this test's Redis prefix."""
    process = Background(celery_worker("embed"), env, tmp_path / "worker.log")
    process.wait_for(r"ready\.")
    yield process
    process.stop()


@pytest.fixture
def beat(env: dict[str, str], tmp_path: Path) -> Iterator[Background]:
    """Celery beat, queueing the cloud's sweeps on this test's Redis prefix."""
    command = stack.celery_beat([sys.executable], tmp_path / "celerybeat-schedule")
    process = Background([*command, "--loglevel", "INFO"], env, tmp_path / "beat.log")
    process.wait_for(r"beat: Starting")
    yield process
    process.stop()


@pytest.fixture
def bridge(env: dict[str, str], tmp_path: Path) -> Iterator[Background]:
    """`python -m cloud mqtt_bridge`, connected to the broker."""
    process = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    process.wait_for(r"connected to the broker")
    yield process
    process.stop()


@pytest.fixture
def ingest_server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Background, int]]:
    """`python -m cloud ingest_grpc` on a free port, and that port."""
    # Loopback, where plain text is allowed (TLS has its own tests, tests/cloud/ingest).
    env = {**env, "SIGHTLINE_CLOUD_INGEST_ADDRESS": "127.0.0.1:0"}
    process = Background(cloud_command("ingest_grpc"), env, tmp_path / "ingest.log")
    port = int(process.wait_for(r"ingest server listening on port (\d+)").group(1))
    yield process, port
    process.stop()


@pytest.fixture
def edge(ingest_server: tuple[Background, int]) -> Iterator[Ingest]:
    """A client channel to `ingest_server`, as the edge opens it."""
    _, port = ingest_server
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield Ingest(ingest_pb2_grpc.IngestServiceStub(channel), channel)
    channel.close()
