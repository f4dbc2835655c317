"""Redis 7 from Debian, in memory only (tests never need it to survive a restart)."""

from __future__ import annotations

import signal

from tests.services import contract
from tests.services.base import Context
from tests.services.procs import (
    LOOPBACK,
    free_ports,
    give_to,
    identify,
    server_user,
    spawn,
    stopped_on_failure,
    tcp_exchange,
    wait_until,
)
from tests.services.state import Running

SERVER_USER = server_user("redis")


class RedisServer:
    """redis-server on a free port, no persistence."""

    name = "redis"
    apt_packages: tuple[str, ...] = ("redis-server",)
    stop_signal = signal.SIGTERM

    def install(self, ctx: Context) -> None:
        """Nothing beyond the Debian package."""

    def start(self, ctx: Context) -> Running:
        """Start redis-server and wait until it answers PING."""
        home = ctx.state.service_dir(self.name)
        give_to(SERVER_USER, home)
        (port,) = free_ports(1)
        argv = ["/usr/bin/redis-server", "--bind", LOOPBACK, "--port", str(port)]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(home), "--daemonize", "no"]
        log = ctx.state.log_path(self.name)
        process = spawn(argv, log_path=log, user=SERVER_USER)
        running = Running(
            process=identify(process.pid),
            ports={"port": port},
            env={contract.REDIS_URL: f"redis://{LOOPBACK}:{port}/0"},
            address=f"{LOOPBACK}:{port}",
        )
        with stopped_on_failure(process):
            wait_until(
                lambda: self.is_ready(running),
                what="redis",
                timeout=30,
                process=process,
                log_path=log,
            )
        return running

    def is_ready(self, running: Running) -> bool:
        """PING answered with PONG."""
        return tcp_exchange(running.ports["port"], b"PING\r\n", 7) == b"+PONG\r\n"
