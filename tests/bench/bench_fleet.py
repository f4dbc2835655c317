"""Fleet heartbeat benchmark: how many devices at a 5 s heartbeat one cloud instance keeps up with.

    set -a; . .services/env; set +a      # the real services (python3 tests/services/manage.py up)
    uv run python -m tests.bench.bench_fleet [--steps 500,1000,2000,5000] [--heartbeat-s 5]
                                             [--seconds 30]

One cloud instance: one `python -m cloud mqtt_bridge` process storing heartbeats in a database
of its own on the test services' PostgreSQL, behind a Mosquitto 2.0 of the benchmark's own with
an account per device (`tests.bench.fleet_broker`). The devices are `tests.fleet.simulator`
agents in one process, speaking the real protocol: birth and last will, a `Metrics` heartbeat
of two cameras every `--heartbeat-s`, QoS 1, each logged in with its own account.

The device count steps up; at each step the agents heartbeat for `--seconds`, and every second
the benchmark compares the heartbeats the broker acknowledged with the samples stored: the
backlog. A step keeps up when the stored rate matches the offered rate, the backlog stays within
one heartbeat interval's worth, and once the agents stop every acknowledged heartbeat is stored
within one interval. The largest step that keeps up is the figure; stepping stops at the first
that does not.

Baseline, from the same run: a bare subscriber on the same broker (no database), how many QoS 1
heartbeats per second it receives from one publisher sending as fast as the broker takes them.

Not a pytest test; it prints a table and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack, closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.bench.cpu_split import CpuSplit, listening_pid, postgres_backends
from tests.bench.fleet_broker import (
    BRIDGE_USER,
    PREFIX,
    SITE,
    FleetBroker,
    bridge_env,
    provision,
)
from tests.bench.measure import BenchError, load_average, machine_facts, percentiles, report
from tests.bench.storage import BenchStorage
from tests.cloud.ingest.processes import Background, cloud_command, run_cloud
from tests.fleet.simulator import AgentSpec, SimulatedAgent
from tests.services import contract

logger = logging.getLogger("tests.bench.bench_fleet")

BASELINE_MESSAGES = 20_000
DRAIN_LIMIT_S = 120.0


def baseline(port: int, device: tuple[str, str], bridge: tuple[str, str]) -> dict[str, Any]:
    """Heartbeats per second a bare QoS 1 subscriber receives from one fast publisher."""
    received = threading.Event()
    count = [0]
    first: list[float] = []

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        if not first:
            first.append(time.monotonic())
        count[0] += 1
        if count[0] >= BASELINE_MESSAGES:
            received.set()

    subscriber = _client(*bridge)
    subscriber.on_message = on_message
    subscriber.connect("127.0.0.1", port)
    subscriber.loop_start()
    subscriber.subscribe(f"{PREFIX}/v1/{SITE}/+/metrics", qos=1)
    time.sleep(1.0)
    agent = SimulatedAgent(
        AgentSpec(device_id=device[0], site=SITE, password=device[1]),
        host="127.0.0.1", port=port, topic_prefix=PREFIX,
    )  # fmt: skip
    payloads = [agent.metrics(seq).SerializeToString() for seq in range(1, BASELINE_MESSAGES + 1)]
    publisher = _client(*device)
    publisher.max_inflight_messages_set(1000)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    topic = f"{PREFIX}/v1/{SITE}/{device[0]}/metrics"
    started = time.monotonic()
    infos = [publisher.publish(topic, payload, qos=1) for payload in payloads]
    done = received.wait(120)
    elapsed = time.monotonic() - (first[0] if first else started)
    for info in infos[-1:]:
        info.wait_for_publish(10)
    publisher.disconnect()
    subscriber.disconnect()
    publisher.loop_stop()
    subscriber.loop_stop()
    if not done:
        raise BenchError(f"the bare subscriber got {count[0]} of {BASELINE_MESSAGES} heartbeats")
    return {"messages": count[0], "per_s": round(count[0] / elapsed)}


def _client(username: str, password: str) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=username, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.username_pw_set(username, password)
    return client


class Stored:
    """Counts the samples stored in the benchmark's database."""

    def __init__(self, database_url: str) -> None:
        self._conn = psycopg.connect(database_url, autocommit=True)

    def count(self) -> int:
        row = self._conn.execute("SELECT count(*) FROM monitoring_heartbeatsample").fetchone()
        return int(row[0]) if row else 0

    def receipt_lag(self, since: datetime) -> dict[str, float]:
        """Seconds from the agent's sample to the bridge's receipt, for samples since `since`."""
        rows = self._conn.execute(
            "SELECT extract(epoch FROM received_at - sampled_at) FROM monitoring_heartbeatsample"
            " WHERE received_at >= %s",
            (since,),
        ).fetchall()
        lags = [float(row[0]) for row in rows]
        if not lags:
            return {}
        return {**percentiles(lags, (50, 95, 99)), "max": round(max(lags, default=0.0), 3)}

    def close(self) -> None:
        self._conn.close()


def one_step(
    devices: Sequence[tuple[str, str]],
    args: argparse.Namespace,
    port: int,
    work: Path,
    stored: Stored,
    cpu: CpuSplit,
    running: list[subprocess.Popen[str] | None],
) -> dict[str, Any]:
    """Run `devices` for `args.seconds`; what was offered, stored, and how far behind.
    `running` holds the simulator process, for `cpu`."""
    count = len(devices)
    specs = work / f"specs-{count}.json"
    specs.write_text(
        json.dumps([{"device_id": d, "site": SITE, "password": p} for d, p in devices]),
        encoding="utf-8",
    )
    before = stored.count()
    started_at = datetime.now(UTC)
    simulator = running[0] = subprocess.Popen(
        [sys.executable, "-m", "tests.fleet.simulator", "--specs", str(specs), "--port", str(port),
         "--topic-prefix", PREFIX, "--heartbeat-s", str(args.heartbeat_s),
         "--seconds", str(args.seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert simulator.stdout is not None
    backlog: list[int] = []
    acked = 0
    measuring_since: float | None = None
    acked_at_start = stored_at_start = 0
    for line in simulator.stdout:
        status = json.loads(line)
        acked = status["acked"]
        if status.get("done"):
            break
        if measuring_since is None and status["connected"] == count:
            measuring_since = time.monotonic()
            acked_at_start, stored_at_start = acked, stored.count() - before
            cpu.start()
        elif measuring_since is not None:
            backlog.append(acked - (stored.count() - before))
    simulator.stdout.close()
    measured_s = time.monotonic() - measuring_since if measuring_since else 0.0
    stored_in_run = stored.count() - before
    cores = cpu.stop() if measuring_since is not None else {}
    if simulator.wait(timeout=60) != 0 or measuring_since is None:
        raise BenchError(f"the simulator of {count} devices failed")
    drain_started = time.monotonic()
    while stored.count() - before < acked and time.monotonic() - drain_started < DRAIN_LIMIT_S:
        time.sleep(0.2)
    drain_s = time.monotonic() - drain_started
    final = stored.count() - before
    offered = (acked - acked_at_start) / measured_s
    rate = (stored_in_run - stored_at_start) / measured_s
    kept_up = (
        final == acked
        and rate >= 0.97 * offered
        and max(backlog, default=0) <= count  # one interval's heartbeats
        and drain_s <= args.heartbeat_s
    )
    result = {
        "devices": count,
        "offered_per_s": round(offered, 1),
        "stored_per_s": round(rate, 1),
        "acked": acked,
        "stored": final,
        "lost": acked - final,
        "backlog_max": max(backlog, default=0),
        "backlog_end": backlog[-1] if backlog else 0,
        "drain_s": round(drain_s, 2),
        "receipt_lag_s": stored.receipt_lag(started_at),
        "cores": cores,
        "kept_up": kept_up,
    }
    logger.info("%d devices: %s", count, result)
    return result


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    environ = dict(os.environ)
    steps = sorted({int(n) for n in args.steps.split(",")})
    devices = [(f"bench-{n:05d}", secrets.token_urlsafe(12)) for n in range(max(steps) + 1)]
    probe, devices = devices[0], devices[1:]
    bridge = (BRIDGE_USER, secrets.token_urlsafe(16))
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        work = Path(tmp)
        work.chmod(0o711)  # the broker runs as its own user and must reach its folder
        storage = stack.enter_context(closing(BenchStorage(environ, "fleet")))
        broker = FleetBroker(
            work / "broker", prefix=PREFIX, site=SITE, devices=[probe, *devices], bridge=bridge
        )
        stack.callback(broker.close)
        env = bridge_env(storage.variables(), broker.port, bridge)
        run_cloud(env, "migrate", "--noinput")
        started = time.monotonic()
        provision(env, [device for device, _ in devices])
        logger.info("%d devices provisioned in %.1f s", len(devices), time.monotonic() - started)
        base = baseline(broker.port, probe, bridge)
        logger.info("baseline: %s", base)
        verbose = {**env, "SIGHTLINE_CLOUD_LOG_LEVEL": "INFO"}  # for its "connected" line
        process = Background(cloud_command("mqtt_bridge"), verbose, work / "bridge.log")
        stack.callback(process.stop)
        process.wait_for("connected to the broker")
        postmaster = listening_pid(urlsplit(storage.database_url).port or 5432)
        running: list[subprocess.Popen[str] | None] = [None]
        cpu = CpuSplit(
            {
                "bridge": lambda: [process.pid],
                "postgres": lambda: (
                    postgres_backends(postmaster, storage.name) if postmaster is not None else []
                ),
                "broker": lambda: [broker.pid],
                "simulator": lambda: [running[0].pid] if running[0] is not None else [],
            }
        )
        stored = stack.enter_context(closing(Stored(storage.database_url)))
        results = []
        for count in steps:
            results.append(one_step(devices[:count], args, broker.port, work, stored, cpu, running))
            if not results[-1]["kept_up"]:
                break
        errors = [line for line in process.output().splitlines() if "Traceback" in line]
    kept = [step["devices"] for step in results if step["kept_up"]]
    return {
        "machine": {**machine_facts(), "load_after": load_average()},
        "heartbeat_s": args.heartbeat_s,
        "seconds": args.seconds,
        "baseline": base,
        "steps": results,
        "largest_kept_up": max(kept, default=0),
        "bridge_tracebacks": len(errors),
    }


COLUMNS = ("bridge", "postgres", "broker", "simulator", "rest", "machine")


def render(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"machine: {machine['cpus']} CPUs, {machine['cpu_model']}, load after "
        f"{machine['load_after']}",
        f"heartbeat every {result['heartbeat_s']} s, {result['seconds']} s per step; baseline: a "
        f"bare subscriber receives {result['baseline']['per_s']} heartbeats/s",
        "",
        f"{'devices':>8} {'offered/s':>10} {'stored/s':>9} {'x base':>7} {'backlog':>8} "
        f"{'drain s':>8} {'lag p95':>8} {'lost':>5}"
        + "".join(f" {name:>8}" for name in COLUMNS)
        + "  kept up",
    ]
    for step in result["steps"]:
        lines.append(
            f"{step['devices']:>8} {step['offered_per_s']:>10} {step['stored_per_s']:>9} "
            f"{step['stored_per_s'] / result['baseline']['per_s']:>7.2f} {step['backlog_max']:>8} "
            f"{step['drain_s']:>8} {step['receipt_lag_s'].get('p95', 0):>8} {step['lost']:>5}"
            + "".join(f" {step['cores'].get(name, 0):>8}" for name in COLUMNS)
            + f"  {'yes' if step['kept_up'] else 'NO'}"
        )
    lines += [
        "",
        f"largest fleet kept up with: {result['largest_kept_up']} devices",
        "",
        "definitions:",
        "  offered/s: heartbeats the broker acknowledged per second while all agents ran;",
        "    stored/s: samples the bridge committed per second meanwhile; x base: stored/s over",
        "    the bare subscriber's rate (the broker and one paho client, no database).",
        "  backlog: the most heartbeats acknowledged but not yet stored, sampled every second.",
        "  drain s: after the agents stopped, until every acknowledged heartbeat was stored.",
        "  lag p95: seconds from an agent's sample to the bridge's receipt (broker queueing).",
        "  lost: acknowledged by the broker but never stored.",
        "  bridge .. machine: cores kept busy on average while measuring by the bridge process,",
        "    the PostgreSQL backends of the benchmark's database, the broker, the simulated",
        "    fleet, the rest of the machine (other sessions) and all of it.",
        "  kept up: stored/s >= 97% of offered/s, backlog within one interval's heartbeats,",
        "    drained within one interval, nothing lost.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_fleet")
    parser.add_argument("--steps", default="500,1000,2000,5000", help="device counts, in order")
    parser.add_argument("--heartbeat-s", type=float, default=5.0, help="heartbeat interval")
    parser.add_argument("--seconds", type=float, default=30.0, help="heartbeating time per step")
    return report(benchmark, render, parser.parse_args(argv), (contract.MissingVariable,))


if __name__ == "__main__":
    sys.exit(main())
