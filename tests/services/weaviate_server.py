"""Weaviate built from source with `go install` (no registry ships a binary), run in a netjail.

The build takes many minutes, so the binary is cached in
`$SIGHTLINE_CACHE_DIR/bin/weaviate-<version>/` and a lock keeps two `up`s from building at once.
The server runs inside `netjail.py` because some of its listeners cannot be bound to loopback by
configuration; see that module.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from tests.services import contract
from tests.services.base import Context
from tests.services.procs import (
    LOOPBACK,
    ServiceError,
    free_ports,
    http_status,
    identify,
    log_tail,
    spawn,
    stopped_on_failure,
    tcp_exchange,
    wait_until,
)
from tests.services.state import Running

logger = logging.getLogger(__name__)

VERSION = "v1.39.0"
MODULE = "github.com/weaviate/weaviate/cmd/weaviate-server"
NETJAIL = Path(__file__).with_name("netjail.py")

# A single node with no modules: tests bring their own vectors.
SERVER_ENV = {
    "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
    "DEFAULT_VECTORIZER_MODULE": "none",
    "ENABLE_MODULES": "",
    "CLUSTER_HOSTNAME": "node1",
    # The namespace has no other interface for memberlist to pick an address from.
    "CLUSTER_BIND_ADDR": LOOPBACK,
    "CLUSTER_ADVERTISE_ADDR": LOOPBACK,
    "RAFT_BOOTSTRAP_EXPECT": "1",
    # Raft's timeouts are multiplied by 5 by default, which only delays a lone node's first
    # election (about 10 s of a cold start).
    "RAFT_TIMEOUTS_MULTIPLIER": "1",
    "LOG_LEVEL": "info",
    "DISABLE_TELEMETRY": "true",
    # The pprof listener (port 6060 on every interface) is of no use to tests.
    "GO_PROFILING_DISABLE": "true",
    "QUERY_DEFAULTS_LIMIT": "25",
}

# HTTP/2 client preface plus an empty SETTINGS frame (RFC 9113 section 3.4); a gRPC server
# answers with its own SETTINGS frame (type 0x04 in the fourth byte of the frame header).
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def binary_path(cache_dir: Path) -> Path:
    """Where the cached weaviate-server binary lives."""
    return cache_dir / "bin" / f"weaviate-{VERSION}" / "weaviate-server"


def _go() -> str:
    # Too old a Go is reported by `go install` itself (Weaviate's go.mod asks for 1.26).
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise ServiceError(f"building Weaviate {VERSION} needs Go (>= 1.26) on PATH")
    return go


class WeaviateServer:
    """weaviate-server, anonymous access, REST and gRPC relayed to 127.0.0.1."""

    name = "weaviate"
    apt_packages: tuple[str, ...] = ()
    stop_signal = signal.SIGTERM

    def install(self, ctx: Context) -> None:
        """`go install` the server into the cache unless it is there already."""
        binary = binary_path(ctx.cache_dir)
        binary.parent.mkdir(parents=True, exist_ok=True)
        with (binary.parent.parent / f"weaviate-{VERSION}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if binary.exists():
                return
            log = ctx.state.service_dir(self.name) / "build.log"
            logger.info("building Weaviate %s (takes many minutes; log %s)", VERSION, log)
            with log.open("wb") as out:
                built = subprocess.run(
                    [_go(), "install", f"{MODULE}@{VERSION}"],
                    env=dict(os.environ, GOBIN=str(binary.parent)),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            if built.returncode != 0:
                raise ServiceError(f"go install {MODULE}@{VERSION} failed:\n{log_tail(log)}")

    def start(self, ctx: Context) -> Running:
        """Start the server in a netjail and wait until REST says ready and gRPC answers."""
        home = ctx.state.service_dir(self.name)
        http_port, grpc_port = free_ports(2)
        env = dict(
            os.environ,
            **SERVER_ENV,
            PERSISTENCE_DATA_PATH=str(home / "data"),
            GRPC_PORT=str(grpc_port),
        )
        argv: list[str | Path] = [sys.executable, NETJAIL, "--port", str(http_port)]
        argv += ["--port", str(grpc_port), "--", binary_path(ctx.cache_dir)]
        argv += ["--host", LOOPBACK, "--port", str(http_port), "--scheme", "http"]
        log = ctx.state.log_path(self.name)
        process = spawn(argv, log_path=log, env=env)
        running = Running(
            process=identify(process.pid),
            ports={"http": http_port, "grpc": grpc_port},
            env={
                contract.WEAVIATE_URL: f"http://{LOOPBACK}:{http_port}",
                contract.WEAVIATE_GRPC_PORT: str(grpc_port),
            },
            address=f"{LOOPBACK}:{http_port} grpc {grpc_port}",
        )
        with stopped_on_failure(process):
            wait_until(
                lambda: self.is_ready(running),
                what="weaviate",
                timeout=120,
                process=process,
                log_path=log,
            )
        return running

    def is_ready(self, running: Running) -> bool:
        """GET /v1/.well-known/ready is 200 and the gRPC port speaks HTTP/2."""
        url = f"{running.env[contract.WEAVIATE_URL]}/v1/.well-known/ready"
        if http_status(url) != 200:
            return False
        reply = tcp_exchange(running.ports["grpc"], HTTP2_PREFACE, 9)
        return len(reply) == 9 and reply[3] == 0x04
