"""The state directory (default `<repo>/.services/`): what is running, its secrets, the env file.

Layout: `state.json` (pids, ports and exported variables per service, plus generated secrets),
`env` (shell `export K=V` lines, the contract in tests/services/contract.py) and one folder per
service holding its data, configuration and `server.log`.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.services.procs import ProcessId

STATE_FILE = "state.json"
ENV_FILE = "env"


@dataclass(frozen=True)
class Running:
    """What `up` recorded about one started server."""

    process: ProcessId
    ports: dict[str, int]
    env: dict[str, str]
    address: str


def _running_from_json(raw: dict[str, Any]) -> Running:
    return Running(
        process=ProcessId(**raw["process"]),
        ports={str(k): int(v) for k, v in raw["ports"].items()},
        env={str(k): str(v) for k, v in raw["env"].items()},
        address=str(raw["address"]),
    )


@contextmanager
def locked_state(root: Path) -> Iterator[StateDir]:
    """The state directory, held exclusively: a second `manage.py` waits for the first."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield StateDir(root)


class StateDir:
    """Records of the servers `up` started, kept in `state.json` under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        path = root / STATE_FILE
        raw: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.exists() else {}
        self._services = {
            name: _running_from_json(value) for name, value in raw.get("services", {}).items()
        }
        self._secrets: dict[str, str] = dict(raw.get("secrets", {}))

    def service_dir(self, name: str) -> Path:
        """The folder holding one service's data, configuration and log (created if missing)."""
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log_path(self, name: str) -> Path:
        """Where one service's server output goes."""
        return self.service_dir(name) / "server.log"

    def secret(self, key: str) -> str:
        """A generated secret, stable across restarts so a sourced env file stays valid."""
        if key not in self._secrets:
            # URL-safe: passwords end up inside connection URLs.
            self._secrets[key] = secrets.token_urlsafe(18)
        return self._secrets[key]

    def running(self) -> dict[str, Running]:
        """The recorded servers by service name (whether or not they are still alive)."""
        return dict(self._services)

    def record(self, name: str, running: Running) -> None:
        """Remember a started server."""
        self._services[name] = running

    def forget(self, name: str) -> None:
        """Drop the record of a server that was stopped or found dead."""
        self._services.pop(name, None)

    def env_lines(self) -> list[str]:
        """The `export K=V` lines for every recorded server."""
        return [
            f"export {key}={shlex.quote(value)}"
            for running in self._services.values()
            for key, value in running.env.items()
        ]

    def save(self) -> None:
        """Write `state.json` and `env`, both readable by the owner only (they hold passwords)."""
        state = {
            "services": {name: asdict(running) for name, running in self._services.items()},
            "secrets": self._secrets,
        }
        self._write(STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n")
        self._write(ENV_FILE, "".join(line + "\n" for line in self.env_lines()))

    def _write(self, name: str, text: str) -> None:
        tmp = self.root / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.replace(self.root / name)
