"""Measurement helpers every benchmark shares: machine facts, CPU use by others, percentiles."""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime


def machine_facts() -> dict[str, Any]:
    """CPU count and model, ONNX Runtime and Python versions, and the load right now."""
    model = "unknown"
    with Path("/proc/cpuinfo").open(encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "onnxruntime": onnxruntime.__version__,
        "python": sys.version.split()[0],
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return [round(value, 2) for value in os.getloadavg()]


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds used so far by the whole machine and by this benchmark, and when."""

    machine_s: float
    own_s: float
    """This process plus its finished children (every leg waits for the processes it starts)."""
    at: float


def cpu_sample() -> CpuSample:
    """Read /proc/stat and this process's rusage now."""
    with Path("/proc/stat").open(encoding="ascii") as stat:
        # cpu user nice system idle iowait irq softirq steal ...: all but idle and iowait is busy.
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, stat.readline().split()[1:9]
        )
    ticks = os.sysconf("SC_CLK_TCK")
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        own += usage.ru_utime + usage.ru_stime
    busy = (user + nice + system + irq + softirq + steal) / ticks
    return CpuSample(busy, own, time.monotonic())


def other_cores(since: CpuSample) -> float:
    """Cores that processes other than this benchmark kept busy, on average, since `since`.

    The machine is shared: this says how far a leg's figure was disturbed (0 is quiet).
    """
    now = cpu_sample()
    foreign = (now.machine_s - since.machine_s) - (now.own_s - since.own_s)
    return round(max(foreign, 0.0) / (now.at - since.at), 2)


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95)) -> dict[str, float]:
    """The given percentiles of `values`, rounded to the millisecond, keyed "p50", "p95", ..."""
    found = np.percentile(np.asarray(values, dtype=np.float64), list(points))
    return {f"p{point}": round(float(value), 3) for point, value in zip(points, found, strict=True)}


class BenchError(Exception):
    """The benchmark cannot run or cannot produce a trustworthy figure; the message says why."""


def report(
    benchmark: Callable[[argparse.Namespace], dict[str, Any]],
    render: Callable[[dict[str, Any]], str],
    args: argparse.Namespace,
    failures: tuple[type[Exception], ...] = (),
) -> int:
    """Run `benchmark`, print its table and, as the last line, its result as one JSON object.

    A `BenchError` or one of `failures` is logged as the reason there is no figure (exit 1)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    caught: tuple[type[Exception], ...] = (BenchError, *failures)
    try:
        result = benchmark(args)
    except caught as err:
        logging.getLogger(benchmark.__module__).error("%s", err)
        return 1
    table = render(result).rstrip("\n")
    sys.stdout.write(table + "\n" + json.dumps(result, sort_keys=True) + "\n")
    return 0
