"""The `manage.py` commands: `up`, `down`, `status`, `env`.

    python3 tests/services/manage.py up [--only postgres,redis,mosquitto,s3,weaviate]
    python3 tests/services/manage.py down | status | env

`up` installs what is missing, starts each service on free 127.0.0.1 ports and writes
`<state dir>/env`; services already up (process alive and answering) are left alone. `down`
stops, by recorded pid only, what `up` started. Stdlib only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.services import apt, contract
from tests.services.base import Context, Service
from tests.services.mosquitto import Mosquitto
from tests.services.postgres import Postgres
from tests.services.procs import ServiceError, http_status, is_running, stop
from tests.services.redis_server import RedisServer
from tests.services.seaweedfs import SeaweedS3
from tests.services.state import Running, locked_state
from tests.services.weaviate_server import WeaviateServer

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SERVICES: dict[str, Service] = {
    service.name: service
    for service in (Postgres(), RedisServer(), Mosquitto(), SeaweedS3(), WeaviateServer())
}


def _line(name: str, status: str, running: Running | None = None, note: str = "") -> str:
    where = f"{running.address:<28} pid {running.process.pid:<8}" if running else ""
    return f"{name:<10} {status:<13} {where} {note}".rstrip() + "\n"


def _timed_start(service: Service, ctx: Context) -> tuple[Running, float]:
    started = time.monotonic()
    running = service.start(ctx)
    return running, time.monotonic() - started


def _external_weaviate() -> tuple[str, bool] | None:
    """When SIGHTLINE_WEAVIATE_URL names a server, leave Weaviate to it: (line, answers)."""
    url = os.environ.get(contract.WEAVIATE_URL)
    if not url:
        return None
    if http_status(f"{url}/v1/.well-known/ready") == 200:
        return _line("weaviate", "external", note=f"{url} ({contract.WEAVIATE_URL})"), True
    # Often a stale value from an earlier `. .services/env` in the same shell.
    note = f"{contract.WEAVIATE_URL}={url} does not answer; unset it to start one here"
    return _line("weaviate", "FAILED", note=note), False


def up(ctx: Context, services: Sequence[Service]) -> int:
    """Start every service of `services` that is not already up; return the exit status."""
    lines: dict[str, str] = {}
    failed = False
    to_start: list[Service] = []
    for service in services:
        external = _external_weaviate() if service.name == "weaviate" else None
        if external is not None:
            lines[service.name], answers = external
            failed = failed or not answers
            continue
        recorded = ctx.state.running().get(service.name)
        if recorded is not None and is_running(recorded.process):
            if service.is_ready(recorded):
                lines[service.name] = _line(service.name, "already up", recorded)
                continue
            pid = recorded.process.pid
            logger.warning("%s (pid %d) does not answer: restarting it", service.name, pid)
            stop(recorded.process, service.stop_signal)
        ctx.state.forget(service.name)
        to_start.append(service)

    installed = _install(ctx, to_start)
    for service in to_start:
        if service not in installed:
            lines[service.name] = _line(service.name, "FAILED", note="not installed")
            failed = True
    to_start = installed

    # The servers are independent and most of their start-up is waiting: start them together.
    with ThreadPoolExecutor(max_workers=max(len(to_start), 1)) as pool:
        futures = {service.name: pool.submit(_timed_start, service, ctx) for service in to_start}
    for name, future in futures.items():
        try:
            running, seconds = future.result()
        except ServiceError as err:
            logger.error("%s: %s", name, err)
            lines[name] = _line(name, "FAILED", note="see the error above")
            failed = True
        else:
            ctx.state.record(name, running)
            lines[name] = _line(name, "up", running, f"ready in {seconds:.1f}s")
    ctx.state.save()
    sys.stdout.write("".join(lines[s.name] for s in services if s.name in lines))
    sys.stdout.write(f"env: {ctx.state.root / 'env'}\n")
    return 1 if failed else 0


def _install(ctx: Context, services: Sequence[Service]) -> list[Service]:
    """Install what `services` need; return those that are ready to start."""
    try:
        apt.install(apt.missing(p for service in services for p in service.apt_packages))
    except ServiceError as err:
        logger.error("%s", err)
    installed = []
    for service in services:
        try:
            if apt.missing(service.apt_packages):
                raise ServiceError(f"Debian packages {service.apt_packages} are not installed")
            service.install(ctx)
        except ServiceError as err:
            logger.error("%s: %s", service.name, err)
        else:
            installed.append(service)
    return installed


def down(ctx: Context, services: Sequence[Service]) -> int:
    """Stop what `up` started (by recorded pid, nothing else), all at once."""
    recorded = ctx.state.running()
    to_stop = [(s, recorded[s.name]) for s in services if s.name in recorded]
    with ThreadPoolExecutor(max_workers=max(len(to_stop), 1)) as pool:
        stopped = list(pool.map(lambda item: stop(item[1].process, item[0].stop_signal), to_stop))
    for (service, running), was_running in zip(to_stop, stopped, strict=True):
        ctx.state.forget(service.name)
        status = "stopped" if was_running else "was not running"
        sys.stdout.write(_line(service.name, status, running))
    ctx.state.save()
    return 0


def status(ctx: Context, services: Sequence[Service]) -> int:
    """Report each service; exit status 0 only when all of them are up and answering."""
    recorded = ctx.state.running()
    all_up = True
    for service in services:
        running = recorded.get(service.name)
        if running is None:
            state = "down"
        elif not is_running(running.process):
            state = "dead"
        else:
            state = "up" if service.is_ready(running) else "not answering"
        all_up = all_up and state == "up"
        sys.stdout.write(_line(service.name, state, running))
    return 0 if all_up else 3


def env(ctx: Context, services: Sequence[Service]) -> int:
    """Print the `export K=V` lines of the recorded services (what `<state dir>/env` holds)."""
    sys.stdout.write("".join(line + "\n" for line in ctx.state.env_lines()))
    return 0


COMMANDS = {"up": up, "down": down, "status": status, "env": env}


def _services(only: str | None) -> list[Service]:
    if not only:
        return list(SERVICES.values())
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SERVICES))
    if unknown:
        raise SystemExit(f"unknown service(s) {unknown}; known: {', '.join(SERVICES)}")
    # Keep the canonical order whatever order --only lists them in.
    return [service for name, service in SERVICES.items() if name in names]


def main(argv: Sequence[str]) -> int:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(
        prog="manage.py", description="Real services on 127.0.0.1 for the integration tests."
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--only", help=f"comma-separated subset of: {', '.join(SERVICES)}")
    parser.add_argument("--state-dir", type=Path, default=REPO / ".services")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    cache_dir = Path(os.environ.get("SIGHTLINE_CACHE_DIR") or Path.home() / ".cache" / "sightline")
    services = _services(args.only)
    with locked_state(args.state_dir.resolve()) as state:
        return COMMANDS[args.command](Context(state=state, cache_dir=cache_dir), services)
