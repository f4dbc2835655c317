"""What every test service provides to `manage.py` (see the modules next to this one)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tests.services.state import Running, StateDir


@dataclass(frozen=True)
class Context:
    """Where services keep their state and their cached downloads and builds."""

    state: StateDir
    cache_dir: Path


class Service(Protocol):
    """One server started on 127.0.0.1 for the integration tests."""

    name: str
    apt_packages: tuple[str, ...]
    """Debian packages it needs; `manage.py` installs the missing ones in one apt-get call."""
    stop_signal: signal.Signals
    """The signal that shuts it down cleanly (SIGKILL follows if it does not)."""

    def install(self, ctx: Context) -> None:
        """Fetch or build what apt does not provide. Idempotent; slow work is cached."""

    def start(self, ctx: Context) -> Running:
        """Start the server on free loopback ports and return once it really serves requests.

        Raises ServiceError (with the server's log tail) when it exits or never gets ready.
        """

    def is_ready(self, running: Running) -> bool:
        """Whether a recorded server answers a real request now (not just an open port)."""
