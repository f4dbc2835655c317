"""The compose stack (docker/compose.yaml) under podman-compose, for tests and by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.containers.podman import REPO, podman, run

COMPOSE_FILE = REPO / "docker" / "compose.yaml"
SERVICES: tuple[str, ...] = ("network", "postgres", "redis", "mosquitto", "s3", "weaviate")
SERVICES += ("web", "ingest", "bridge", "worker", "beat")


@dataclass(frozen=True)
class Stack:
    """One project of the compose file: its name, published web port, secrets and models."""

    project: str
    web_port: int
    secrets_dir: Path
    models_dir: Path

    def _compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        compose = Path(sys.executable).with_name("podman-compose")
        env = {
            "SIGHTLINE_SECRETS": str(self.secrets_dir),
            "SIGHTLINE_MODELS": str(self.models_dir),
            "SIGHTLINE_WEB_PORT": str(self.web_port),
        }
        argv: list[str | Path] = [compose, "--project-name", self.project]
        argv += ["--file", COMPOSE_FILE, *args]
        return run(argv, check=check, env={**os.environ, **env}, timeout=600)

    def container(self, service: str) -> str:
        """The container podman-compose names for `service`."""
        return f"{self.project}_{service}_1"

    def up(self) -> None:
        """Create and start every service in the background."""
        self._compose("up", "--detach")

    def down(self) -> None:
        """Stop and remove the containers, and the volumes with their data."""
        self._compose("down", "--volumes", "--timeout", "5", check=False)

    def logs(self, tail: int = 60) -> str:
        """The last lines of every container's log, service by service."""
        parts = []
        for service in SERVICES:
            result = podman("logs", "--tail", str(tail), self.container(service), check=False)
            parts.append(f"--- {service}\n{result.stdout}{result.stderr}")
        return "\n".join(parts)

    def cloud(self, *args: str) -> str:
        """`python -m cloud ARGS` in the web container; its standard output."""
        return podman("exec", self.container("web"), "python", "-m", "cloud", *args).stdout

    def url(self, path: str) -> str:
        """The published web app's URL for `path`."""
        return f"http://127.0.0.1:{self.web_port}{path}"

    def wait_ready(self, timeout_s: float) -> float:
        """Wait until the web app says ready (database reachable); seconds waited."""
        started = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(self.url("/readyz"), timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"the web app was not ready in {timeout_s} s")
            time.sleep(1)


def request_json(
    url: str, body: dict[str, str] | None = None, token: str | None = None
) -> tuple[int, Any]:
    """GET (or POST `body` as JSON) `url`; the status and the decoded JSON answer."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")
