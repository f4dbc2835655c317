"""Where the CPU of a benchmark leg went: per process, read from /proc (Linux).

A leg names the processes it cares about (the ingest server, the load generator, PostgreSQL's
backends serving the benchmark's database, the S3 server) and `CpuSplit` reports the cores each
kept busy, plus the rest of the machine: other sessions' work on a shared machine. The S3 server
and PostgreSQL are shared test services, so their figures include whatever other clients made
them do meanwhile; the "rest" line says how busy the machine was besides.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.bench.measure import CpuSample, cpu_sample

_TICKS = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used; 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def listening_pid(port: int) -> int | None:
    """The process listening on TCP `port` (IPv4 or IPv6), or None if none can be seen."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text(encoding="ascii").splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if str(fd.readlink()) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def postgres_backends(postmaster: int, database: str) -> list[int]:
    """The backends of `postmaster` serving `database` (their title names it)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text(encoding="ascii")
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == postmaster and f" {database} " in f" {title} ":
            found.append(int(proc.name))
    return found


PidsOf = Callable[[], Iterable[int]]


@dataclass
class CpuSplit:
    """CPU seconds of named groups of processes between `start` and `stop`, as cores."""

    groups: Mapping[str, PidsOf]
    """Group name -> the pids in it right now (asked at start and at stop)."""
    _before: dict[str, dict[int, float]] | None = None
    _machine: CpuSample | None = None

    def start(self) -> None:
        """Take the first sample."""
        self._before = {name: self._sample(pids) for name, pids in self.groups.items()}
        self._machine = cpu_sample()

    def stop(self, extra_s: Mapping[str, float] | None = None) -> dict[str, float]:
        """Cores per group since `start`, plus `extra_s` (CPU seconds measured otherwise, such
        as a child process's rusage), "machine" (every process) and "rest" (the others)."""
        assert self._before is not None and self._machine is not None, "start() first"
        elapsed = time.monotonic() - self._machine.at
        machine = cpu_sample().machine_s - self._machine.machine_s
        used = dict(extra_s or {})
        for name, pids in self.groups.items():
            after = self._sample(pids)
            before = self._before[name]
            # A process that ended since the start counts with what it used until then.
            used[name] = sum(
                after.get(p, before.get(p, 0.0)) - before.get(p, 0.0) for p in {*before, *after}
            )
        cores = {name: round(max(s, 0.0) / elapsed, 2) for name, s in used.items()}
        cores["machine"] = round(machine / elapsed, 2)
        cores["rest"] = round(max(machine - sum(used.values()), 0.0) / elapsed, 2)
        return cores

    @staticmethod
    def _sample(pids: PidsOf) -> dict[int, float]:
        return {pid: process_cpu_s(pid) for pid in pids()}
