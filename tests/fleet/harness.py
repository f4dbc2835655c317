"""Running a simulated fleet beside a test: its loop in a thread, waits, database reads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, LiteralString

import psycopg

from tests.cloud.ingest.processes import run_cloud
from tests.fleet.simulator import Fleet
from tests.signed_models import manifest_for

ONNX = b"\x08\x07 a model the simulated agents never open" * 32


class FleetThread:
    """The simulated fleet on its own asyncio loop in a thread, steered from the test."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self.fleet.run(self._stop))
        except BaseException as err:  # reported to the test by `check`
            self.error = err
        finally:
            self._loop.close()

    def start(self) -> None:
        self._thread.start()

    def call(self, function: Callable[[], Any]) -> None:
        self._loop.call_soon_threadsafe(function)

    def check(self) -> None:
        assert self.error is None, f"the fleet failed: {self.error!r}"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self.check()


def wait_for(
    condition: Callable[[], bool], what: str, fleet: FleetThread, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        fleet.check()
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.2)


def rows(database_url: str, query: LiteralString, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(query, params).fetchall()


def upload_models(
    env: Mapping[str, str], folder: Path, versions: tuple[str, ...] = ("1", "2")
) -> None:
    """Upload `versions` of nanodet-g (`ONNX`, which simulated agents never open), signed with an
    operator key made in `folder`, through `python -m cloud models` as an operator does."""
    key = folder / "operator.pem"
    run_cloud(env, "models", "keygen", "--out", str(key))
    for version in versions:
        onnx, manifest = folder / f"m{version}.onnx", folder / f"m{version}.toml"
        onnx.write_bytes(ONNX + version.encode())
        manifest.write_bytes(manifest_for(ONNX + version.encode(), version))
        run_cloud(env, "models", "upload", "--onnx", str(onnx), "--manifest", str(manifest),
                  "--key", str(key))  # fmt: skip
