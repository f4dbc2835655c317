"""Process plumbing for the test services: free ports, detached starts, readiness waits, stops.

Stdlib only. A started server is identified by its pid *and* its kernel start time, so a recycled
pid is never mistaken for one of ours and never signalled.
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class ServiceError(RuntimeError):
    """A service could not be installed, started or stopped; the message says why."""


@dataclass(frozen=True)
class ProcessId:
    """A running process: its pid plus its start time in clock ticks since boot."""

    pid: int
    start_ticks: int


_ports_lock = threading.Lock()
_handed_out: set[int] = set()


def free_ports(count: int) -> list[int]:
    """Return `count` ports free on 127.0.0.1 now, never one returned before by this process.

    Services start in parallel threads, and the kernel may offer a just-released port again
    before the server that was given it binds it; remembering what was handed out prevents that.
    A server that still loses a race with another program fails its bind, which `wait_until`
    reports.
    """
    with _ports_lock:
        chosen: list[int] = []
        while len(chosen) < count:
            port = _bind_free(0)
            if port not in _handed_out:
                _handed_out.add(port)
                chosen.append(port)
        return chosen


def free_port_pair(offset: int) -> tuple[int, int]:
    """Two free ports `offset` apart, for servers that derive one port from the other."""
    with _ports_lock:
        while True:
            port = _bind_free(0)
            if port in _handed_out or port + offset > 65535 or port + offset in _handed_out:
                continue
            try:
                _bind_free(port + offset)
            except OSError:
                continue
            _handed_out.update((port, port + offset))
            return port, port + offset


def _bind_free(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, port))
        bound: int = sock.getsockname()[1]
        return bound


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; it ends at the last ")".
    return stat[stat.rindex(")") + 2 :].split()


def identify(pid: int) -> ProcessId:
    """Return the identity of a live process."""
    fields = _stat_fields(pid)
    if fields is None:
        raise ServiceError(f"process {pid} is gone")
    return ProcessId(pid=pid, start_ticks=int(fields[19]))


def is_running(process: ProcessId) -> bool:
    """True while the very process that was started still runs (zombies count as stopped)."""
    fields = _stat_fields(process.pid)
    if fields is None:
        return False
    return fields[0] != "Z" and int(fields[19]) == process.start_ticks


@dataclass(frozen=True)
class _Identity:
    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None
    home: str | None = None


def server_user(name: str) -> str | None:
    """The account a server should run as: `name` when we are root, else None (the caller)."""
    return name if os.geteuid() == 0 else None


def give_to(user: str | None, *paths: Path) -> None:
    """Hand `paths` to `user` so a server running as it can write there; no-op for None."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _identity(user: str | None) -> _Identity:
    # Switching user needs root; as anyone else the servers simply run as the caller.
    if user is None or os.geteuid() != 0:
        return _Identity()
    entry = pwd.getpwnam(user)
    return _Identity(entry.pw_uid, entry.pw_gid, [], entry.pw_dir)


def spawn(
    argv: Sequence[str | Path],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server in its own session, its output appended to `log_path`.

    `user` is switched to only when running as root. Popen does the switch itself rather than
    through `runuser`, so the pid we record is the server's own and not a wrapper's.
    """
    who = _identity(user)
    full_env = dict(os.environ if env is None else env)
    if who.home is not None and user is not None:
        full_env.update(HOME=who.home, USER=user, LOGNAME=user)
    logger.debug("starting %s", " ".join(map(str, argv)))
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
            cwd=log_path.parent,
            user=who.user,
            group=who.group,
            extra_groups=who.extra_groups,
        )


def run_as(
    user: str | None,
    argv: Sequence[str | Path],
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run a short command (as `user` when root); its stdout, or ServiceError on failure.

    Secrets go through `stdin` or `env`, never `argv`: the error message quotes `argv`.
    """
    who = _identity(user)
    result = subprocess.run(
        [str(arg) for arg in argv],
        input=stdin,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        user=who.user,
        group=who.group,
        extra_groups=who.extra_groups,
        # Commands run as another user must not inherit a working directory it cannot enter.
        cwd="/",
    )
    if result.returncode != 0:
        raise ServiceError(
            f"{' '.join(map(str, argv))} failed ({result.returncode}): {result.stderr.strip()}"
        )
    return result.stdout


def log_tail(log_path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    check: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    process: subprocess.Popen[bytes],
    log_path: Path,
) -> None:
    """Poll `check` until it is true; fail early if the process exits, with its log tail."""
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            raise ServiceError(
                f"{what} exited with status {process.returncode} before it was ready; "
                f"log {log_path}:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{what} not ready after {timeout:.0f}s; log {log_path}:\n{log_tail(log_path)}"
            )
        time.sleep(0.1)


@contextmanager
def stopped_on_failure(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Stop a just-started server when its setup fails, so nothing untracked keeps running."""
    try:
        yield
    except BaseException:
        # SIGTERM first: netjail passes it on to its child, SIGKILL would orphan the child.
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


def tcp_exchange(port: int, request: bytes, reply_size: int, timeout: float = 2.0) -> bytes:
    """Send `request` to 127.0.0.1:port and return up to `reply_size` bytes; b"" on any error."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(request)
            return sock.recv(reply_size)
    except OSError:
        return b""


# Probes go straight to the server, whatever *_proxy variables the environment holds.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """HTTP status of a GET on `url` (error statuses included), None when nothing answers."""
    try:
        with _direct.open(url, timeout=timeout) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as err:
        return err.code
    except (OSError, urllib.error.URLError):
        return None


def stop(process: ProcessId, sig: signal.Signals, grace: float = 15.0) -> bool:
    """Stop one recorded process: `sig`, then SIGKILL after `grace` seconds.

    Returns False when it was not running. Nothing but this pid is ever signalled.
    """
    if not is_running(process):
        return False
    _signal(process.pid, sig)
    deadline = time.monotonic() + grace
    while is_running(process):
        if time.monotonic() > deadline:
            logger.warning("pid %d ignored %s for %.0fs; killing it", process.pid, sig.name, grace)
            _signal(process.pid, signal.SIGKILL)
            deadline = time.monotonic() + grace
        time.sleep(0.05)
        _reap(process.pid)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    # It may exit on its own between the liveness check and the signal.
    with suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    # Servers started by this very invocation are our children: collect them so they do not
    # linger as zombies. Anything else is reaped by its own parent.
    with suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
