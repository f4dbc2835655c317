"""Cloud processes shared by the integration tests.

The fixtures need an `env` fixture (the cloud's environment for this test: database, stores,
broker) from the test module that uses them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo import stack
from tests.cloud.ingest.processes import Background, celery_worker, cloud_command


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
def ingest_server(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Background, int]]:
    """`python -m cloud ingest_grpc` on a free port, and that port."""
    process = Background(cloud_command("ingest_grpc"), env, tmp_path / "ingest.log")
    port = int(process.wait_for(r"ingest server listening on port (\d+)").group(1))
    yield process, port
    process.stop()
