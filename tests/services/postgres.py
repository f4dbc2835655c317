"""PostgreSQL 15 from Debian: a cluster in the state dir, a password role with CREATEDB."""

from __future__ import annotations

import signal
from pathlib import Path
from urllib.parse import urlsplit

from tests.services import contract
from tests.services.base import Context
from tests.services.procs import (
    LOOPBACK,
    ServiceError,
    free_ports,
    give_to,
    identify,
    run_as,
    server_user,
    spawn,
    stopped_on_failure,
    wait_until,
)
from tests.services.state import Running

BIN = Path("/usr/lib/postgresql/15/bin")
ROLE = "sightline"
DATABASE = "sightline"
# PostgreSQL refuses to run as root; when we are root the server runs as the Debian user.
SERVER_USER = server_user("postgres")

# Idempotent: the role and database survive restarts along with the cluster.
BOOTSTRAP_SQL = f"""
SELECT 'CREATE ROLE {ROLE}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}')
\\gexec
ALTER ROLE {ROLE} WITH LOGIN CREATEDB PASSWORD :'password';
-- The tests drop their databases WITH (FORCE), which also ends an autovacuum worker that happens
-- to be in that database; only members of pg_signal_backend may end a process with no role.
GRANT pg_signal_backend TO {ROLE};
SELECT 'CREATE DATABASE {DATABASE} OWNER {ROLE}'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}')
\\gexec
"""


class Postgres:
    """PostgreSQL 15 on a free port, tuned for throwaway test data (no fsync)."""

    name = "postgres"
    apt_packages: tuple[str, ...] = ("postgresql-15",)
    # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for every client to leave.
    stop_signal = signal.SIGINT

    def install(self, ctx: Context) -> None:
        """Nothing beyond the Debian package."""

    def start(self, ctx: Context) -> Running:
        """initdb on first use, start the server, (re)set the role's password, check a login."""
        home = ctx.state.service_dir(self.name)
        data, sockets = home / "data", home / "run"
        sockets.mkdir(exist_ok=True)
        give_to(SERVER_USER, home, sockets)
        if not (data / "PG_VERSION").exists():
            run_as(
                SERVER_USER,
                [
                    *(BIN / "initdb", "-D", data, "-U", "postgres", "-E", "UTF8"),
                    *("--locale=C.UTF-8", "--auth-local=peer", "--auth-host=scram-sha-256"),
                    "--no-instructions",
                ],
            )
        (port,) = free_ports(1)
        log = ctx.state.log_path(self.name)
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(port),
            "unix_socket_directories": str(sockets),
            # Test data is disposable: durability only costs time here.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv: list[str | Path] = [BIN / "postgres", "-D", data]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        process = spawn(argv, log_path=log, user=SERVER_USER)
        password = ctx.state.secret("postgres_password")
        url = f"postgresql://{ROLE}:{password}@{LOOPBACK}:{port}/{DATABASE}"
        running = Running(
            process=identify(process.pid),
            ports={"port": port},
            env={contract.DATABASE_URL: url},
            address=f"{LOOPBACK}:{port}",
        )
        with stopped_on_failure(process):
            wait_until(
                lambda: _accepting(str(sockets), port),
                what="postgres",
                timeout=60,
                process=process,
                log_path=log,
            )
            run_as(
                SERVER_USER,
                [
                    *(BIN / "psql", "-h", sockets, "-p", str(port), "-U", "postgres"),
                    *("-d", "postgres", "-X", "-q", "-v", "ON_ERROR_STOP=1"),
                ],
                # The password travels on stdin so it never shows in `ps` or in an error message.
                stdin=f"\\set password '{password}'\n{BOOTSTRAP_SQL}",
            )
            if not self.is_ready(running):
                raise ServiceError(f"postgres started but {ROLE} cannot log in over TCP")
        return running

    def is_ready(self, running: Running) -> bool:
        """A real password login over TCP as the test role."""
        url = urlsplit(running.env[contract.DATABASE_URL])
        try:
            out = run_as(
                None,
                [
                    *(BIN / "psql", "-h", LOOPBACK, "-p", str(url.port), "-U", ROLE),
                    *("-d", DATABASE, "-X", "-A", "-t", "-c", "SELECT 1"),
                ],
                env={"PGPASSWORD": url.password or "", "PGCONNECT_TIMEOUT": "5"},
            )
        except ServiceError:
            return False
        return out.strip() == "1"


def _accepting(sockets: str, port: int) -> bool:
    try:
        run_as(SERVER_USER, [BIN / "pg_isready", "-q", "-h", sockets, "-p", str(port)])
    except ServiceError:
        return False
    return True
