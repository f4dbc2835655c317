"""The cloud's deployable commands run as real processes, for the integration tests.

Each process gets the environment a deployment would give it (`cloud_env`), so the settings,
the Django setup and the entry points are the production ones.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from demo import stack
from tests.services.contract import MqttBroker, S3Server, WeaviateServer

TIMEOUT_S = 120.0


def cloud_env(variables: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with production-style cloud settings and `variables`."""
    return {
        **os.environ,
        "SIGHTLINE_CLOUD_DEBUG": "false",
        "SIGHTLINE_CLOUD_SECRET_KEY": "integration-test-secret-key-0123456789abcdefghij",
        "SIGHTLINE_CLOUD_ALLOWED_HOSTS": "localhost",
        "SIGHTLINE_CLOUD_LOG_LEVEL": "INFO",
        **variables,
    }


def storage_variables(
    *,
    database_url: str,
    s3: S3Server,
    bucket: str,
    weaviate: WeaviateServer,
    collection: str,
    redis_url: str,
    redis_prefix: str,
) -> dict[str, str]:
    """Cloud settings for one test's database, bucket, Weaviate collection and Redis prefix."""
    return {
        "SIGHTLINE_CLOUD_DATABASE_URL": database_url,
        "SIGHTLINE_CLOUD_OBJECT_STORE": "s3",
        "SIGHTLINE_CLOUD_S3_ENDPOINT": s3.endpoint,
        "SIGHTLINE_CLOUD_S3_BUCKET": bucket,
        "SIGHTLINE_CLOUD_S3_ACCESS_KEY": s3.access_key,
        "SIGHTLINE_CLOUD_S3_SECRET_KEY": s3.secret_key,
        "SIGHTLINE_CLOUD_S3_SECURE": "false",
        "SIGHTLINE_CLOUD_VECTOR_STORE": "weaviate",
        "SIGHTLINE_CLOUD_WEAVIATE_URL": weaviate.url,
        "SIGHTLINE_CLOUD_WEAVIATE_GRPC_PORT": str(weaviate.grpc_port),
        "SIGHTLINE_CLOUD_VECTOR_STORE_COLLECTION": collection,
        "SIGHTLINE_CLOUD_CELERY_BROKER_URL": redis_url,
        "SIGHTLINE_CLOUD_CELERY_KEY_PREFIX": redis_prefix,
    }


def bridge_variables(broker: MqttBroker, site: str) -> dict[str, str]:
    """Cloud settings of an MQTT bridge serving only `site` on the test broker."""
    return {
        "SIGHTLINE_CLOUD_MQTT_HOST": broker.host,
        "SIGHTLINE_CLOUD_MQTT_PORT": str(broker.port),
        "SIGHTLINE_CLOUD_MQTT_USERNAME": broker.admin.username,
        "SIGHTLINE_CLOUD_MQTT_PASSWORD": broker.admin.password,
        "SIGHTLINE_CLOUD_MQTT_TOPIC_PREFIX": broker.topic_prefix,
        "SIGHTLINE_CLOUD_MQTT_CLIENT_ID": f"{site}-bridge",
        # Only this test's site: the broker keeps other runs' retained status messages.
        "SIGHTLINE_CLOUD_MQTT_SITES": site,
    }


def device_cloud(storage: Mapping[str, str], broker: MqttBroker, site: str) -> dict[str, str]:
    """The cloud on `storage` (`storage_variables`) whose bridge serves `site`, with the broker's
    first device account provisioned in it (x86-cpu), as an agent under test needs it."""
    env = cloud_env(
        {
            **storage,
            **bridge_variables(broker, site),
            "SIGHTLINE_CLOUD_INGEST_ADDRESS": "127.0.0.1:0",
        }
    )
    run_cloud(
        env, "provision_device", broker.device.username, "--hardware", "x86-cpu", "--site", site
    )
    return env


def model_registry_cloud(
    database_url: str, broker: MqttBroker, site: str, objects: Path
) -> dict[str, str]:
    """The cloud on `database_url` (migrated already: `migrated_postgres_database`) whose bridge
    serves `site`, with models stored under `objects` and download URLs naming
    https://cloud.example."""
    return cloud_env(
        {
            "SIGHTLINE_CLOUD_DATABASE_URL": database_url,
            "SIGHTLINE_CLOUD_OBJECT_STORE_ROOT": str(objects),
            "SIGHTLINE_CLOUD_PUBLIC_URL": "https://cloud.example",
            **bridge_variables(broker, site),
        }
    )


def run_cloud(env: Mapping[str, str], *args: str) -> str:
    """Run ``python -m cloud ARGS`` to completion; return its stdout (fails on non-zero exit)."""
    result = subprocess.run(
        [sys.executable, "-m", "cloud", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def provision_devices(env: Mapping[str, str], *devices: str) -> None:
    """Provision `devices` in the (migrated) database of `env`, as an operator does."""
    for device in devices:
        run_cloud(env, "provision_device", device, "--hardware", "x86-cpu")


class Background:
    """A long-running command whose output goes to a log file; stopped with SIGTERM."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as output:
            self._process = subprocess.Popen(
                args, env=dict(env), stdout=output, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        """The process id."""
        return self._process.pid

    def output(self) -> str:
        """Everything the process has written so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float = 60.0) -> re.Match[str]:
        """Wait until the output matches `pattern`; fail with the output if it never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            assert self._process.poll() is None, f"exited early:\n{self.output()}"
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} within {timeout_s} s:\n{self.output()}")

    def exit_status(self, timeout_s: float = 30.0) -> int:
        """Wait for the process to exit by itself and return its status."""
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {timeout_s} s:\n{self.output()}") from None

    def kill(self) -> int:
        """Kill the process with SIGKILL, as a crash or the OOM killer would; return its status."""
        self._process.kill()
        return self._process.wait()

    def stop(self, timeout_s: float = 30.0) -> int:
        """Send SIGTERM and wait; return the exit status (kills it after `timeout_s`)."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
            raise AssertionError(f"did not stop on SIGTERM:\n{self.output()}") from None


def cloud_command(*args: str) -> list[str]:
    """The argv of ``python -m cloud ARGS`` in this interpreter."""
    return [sys.executable, "-m", "cloud", *args]


def celery_worker(queue: str) -> list[str]:
    """The argv of a one-process Celery worker of the cloud app consuming `queue`."""
    return stack.celery_worker(
        [sys.executable], queue, "--loglevel", "INFO", "--hostname", f"{queue}-test@%h"
    )
