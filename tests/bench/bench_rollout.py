"""Rollout benchmark: time from "rollout started" to "100% converged" for a simulated fleet.

    set -a; . .services/env; set +a      # the real services (python3 tests/services/manage.py up)
    uv run python -m tests.bench.bench_rollout [--devices 1000] [--heartbeat-s 5] [--soak-s 10]
                                               [--baseline-s 20] [--stages 1,10%,50%,100%]

One cloud instance, as `tests.bench.bench_fleet` sets it up: a Mosquitto 2.0 of the benchmark's
own with an account per device (`tests.bench.fleet_broker`, the deployment's ACLs: each device
subscribes to its own retained `desired` topic and publishes its `reported` state), one
`python -m cloud mqtt_bridge` storing heartbeats and reports and publishing desired states, and
a database of its own (`BenchStorage`). The devices are `tests.fleet.simulator` agents in one
process: a heartbeat every `--heartbeat-s`, and they apply a new desired generation at once
(no download, no engine build: what is measured is the cloud's side and the protocol).
The rollout gate is `cloud.rollouts.tasks.advance_rollouts`, run in one long-lived process
once a second, as `celery beat` with `SIGHTLINE_CLOUD_ROLLOUT_TICK_S=1` and one worker would
run it (a tick that overruns is followed at once by the next).

Baseline, in the same run: `models assign` of version 1 to every device at once (no gates):
from the assignment to every device reporting it. That is also the fleet's starting point.
After `--baseline-s` of heartbeats on version 1, `rollouts start` rolls version 2 out over
`--stages` with a soak of `--soak-s`. The figure: from the rollout's start (its audit entry) to
the moment the last device reported version 2 running (`deploy_reportedstate.received_at`).
Per stage: when its devices were assigned, when the bridge had published every one of their
desired states (polled every `POLL_S`), when the last reported the new model, when the gate
first held, and when the next stage started; so the time splits into publishing, devices
converging, waiting for the gate's heartbeats on the new model (`GateBounds.min_samples`), and
soaking.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.bench.fleet_broker import BRIDGE_USER, PREFIX, SITE, FleetBroker, bridge_env, provision
from tests.bench.measure import BenchError, load_average, machine_facts, percentiles, report
from tests.bench.storage import BenchStorage
from tests.cloud.ingest.processes import Background, cloud_command, run_cloud
from tests.fleet.harness import upload_models
from tests.services import contract

logger = logging.getLogger("tests.bench.bench_rollout")

MODEL = "nanodet-g"
POLL_S = 0.25
RATE_MIN_DEVICES = 50
CONVERGE_LIMIT_S = 300.0
# The gate as beat would queue it: once a period, the next at once when a tick overruns.
TICKER = """
import json, time
from cloud.rollouts.tasks import advance_rollouts
while True:
    started = time.time()
    changed = advance_rollouts()
    took = time.time() - started
    print("tick", json.dumps({{"at": started, "s": took, "changed": changed}}), flush=True)
    time.sleep(max(0.0, {period} - took))
"""
CONVERGED = """
SELECT count(*) FILTER (WHERE d.published_generation >= d.generation),
       count(*) FILTER (WHERE r.generation >= d.generation AND r.error = ''),
       max(r.received_at) FILTER (WHERE r.generation >= d.generation AND r.error = '')
FROM deploy_desiredstate d LEFT JOIN deploy_reportedstate r USING (device_id)
WHERE d.device_id = ANY(%s)
"""


class Database:
    """Reads the benchmark's database: what is published, reported, and the rollout's log."""

    def __init__(self, database_url: str) -> None:
        self._conn = psycopg.connect(database_url, autocommit=True)

    def convergence(self, ids: Sequence[str]) -> tuple[int, int, float | None]:
        """Of `ids`: how many desired states are published, how many devices reported their
        desired generation without error, and when the last of those reports arrived."""
        row = self._conn.execute(CONVERGED, (list(ids),)).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), row[2].timestamp() if row[2] else None

    def rollout(self) -> tuple[str, int] | None:
        """The rollout's phase and stage index."""
        row = self._conn.execute("SELECT phase, stage FROM rollouts_rollout").fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def stages(self) -> dict[int, tuple[list[str], float | None]]:
        """Each stage's devices and when they were assigned."""
        found: dict[int, tuple[list[str], float | None]] = {}
        for stage, device, assigned in self._conn.execute(
            "SELECT stage, device_id, assigned_at FROM rollouts_rolloutdevice ORDER BY device_id"
        ):
            ids, _ = found.setdefault(stage, ([], None))
            ids.append(device)
            found[stage] = (ids, assigned.timestamp() if assigned else None)
        return found

    def events(self) -> list[tuple[str, int, float]]:
        """The rollout's audit log: (action, stage, at)."""
        return [
            (str(action), int(stage), at.timestamp())
            for action, stage, at in self._conn.execute(
                "SELECT action, stage, at FROM rollouts_rolloutevent ORDER BY at, id"
            )
        ]

    def last_reason(self) -> str:
        """The reason of the rollout's last audit entry (why the gate failed)."""
        row = self._conn.execute(
            "SELECT action, reason FROM rollouts_rolloutevent ORDER BY at DESC, id DESC"
        ).fetchone()
        return f"{row[0]}: {row[1]}" if row else "no audit entry"

    def assigned_at(self) -> float:
        """When the last `models assign` changed the desired states."""
        row = self._conn.execute("SELECT max(changed_at) FROM deploy_desiredstate").fetchone()
        assert row is not None and row[0] is not None
        return float(row[0].timestamp())

    def close(self) -> None:
        self._conn.close()


@dataclass
class Progress:
    """When a set of devices (a stage, or the whole fleet) got published and converged."""

    ids: list[str]
    assigned: float
    published: float | None = None
    """When polling first saw every desired state published."""
    converged: float | None = None
    """When the last device reported the desired generation (its report's receipt time)."""

    def poll(self, db: Database) -> bool:
        """Look once; True when every device converged."""
        published, converged, last = db.convergence(self.ids)
        now = time.time()
        if self.published is None and published == len(self.ids):
            self.published = now
        if converged == len(self.ids) and self.converged is None:
            self.converged = last
        return self.converged is not None

    def publish_rate(self) -> float | None:
        """Desired states published per second from the assignment on, the wait for the
        bridge's next pass included (None below `RATE_MIN_DEVICES`: polling dominates)."""
        if self.published is None or len(self.ids) < RATE_MIN_DEVICES:
            return None
        return round(len(self.ids) / (self.published - self.assigned), 1)

    def summary(self) -> dict[str, Any]:
        assert self.published is not None and self.converged is not None
        return {
            "devices": len(self.ids),
            "published_s": round(self.published - self.assigned, 2),
            "converged_s": round(self.converged - self.assigned, 2),
            "publish_per_s": self.publish_rate(),
        }


def wait_converged(db: Database, progress: Progress, what: str, fleet: Fleet) -> None:
    deadline = time.monotonic() + CONVERGE_LIMIT_S
    while not progress.poll(db):
        fleet.check()
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not converged within {CONVERGE_LIMIT_S} s")
        time.sleep(POLL_S)


class Fleet:
    """The simulator process, its status lines read on a thread (the pipe must not fill)."""

    def __init__(self, specs: Path, port: int, heartbeat_s: float, work: Path) -> None:
        with (work / "simulator.log").open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.fleet.simulator", "--specs", str(specs),
                 "--port", str(port), "--topic-prefix", PREFIX, "--heartbeat-s", str(heartbeat_s),
                 "--seconds", "86400"],
                stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
        self.status: dict[str, Any] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.status = json.loads(line)

    def wait_connected(self, count: int) -> None:
        deadline = time.monotonic() + 120
        while self.status.get("connected") != count:
            self.check()
            if time.monotonic() > deadline:
                raise BenchError(f"{self.status.get('connected', 0)} of {count} agents connected")
            time.sleep(0.5)

    def check(self) -> None:
        if self._process.poll() is not None:
            raise BenchError(f"the simulator exited with status {self._process.returncode}")

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=30)
        self._reader.join(5)
        if self._process.stdout is not None:
            self._process.stdout.close()


def run_rollout(
    args: argparse.Namespace, env: dict[str, str], db: Database, fleet: Fleet
) -> dict[str, Any]:
    """Start the rollout and follow it until it completes; its timings from the database."""
    launched = time.time()
    run_cloud(env, "rollouts", "start", "bench", "--model", MODEL, "2", "--site", SITE,
              "--stages", args.stages, "--soak-s", str(args.soak_s),
              "--baseline-s", str(args.baseline_s))  # fmt: skip
    stages: dict[int, Progress] = {}
    deadline = time.monotonic() + CONVERGE_LIMIT_S * 4
    while True:
        fleet.check()
        state = db.rollout()
        assert state is not None
        phase, _ = state
        for index, (ids, assigned) in db.stages().items():
            if assigned is not None and index not in stages:
                stages[index] = Progress(ids, assigned)
        for progress in stages.values():
            progress.poll(db)
        done = phase == "completed" and all(p.converged for p in stages.values())
        if done:
            break
        if phase not in ("running",) or time.monotonic() > deadline:
            raise BenchError(f"the rollout is {phase}, not completed: {db.last_reason()}")
        time.sleep(POLL_S)
    events = db.events()
    (started,) = [at for action, _, at in events if action == "start"]
    holds = {stage: at for action, stage, at in reversed(events) if action == "gate_holds"}
    # An advance event names the stage it started: the stage before it ends there; the last
    # stage ends with the rollout's completion.
    ended = {stage - 1: at for action, stage, at in events if action == "advance"}
    ended[len(stages) - 1] = next(at for action, _, at in events if action == "complete")
    rows = []
    for index, progress in sorted(stages.items()):
        assert progress.published is not None and progress.converged is not None
        hold, end = holds[index], ended[index]
        rows.append(
            {
                **progress.summary(),
                "stage": index + 1,
                "assigned_at_s": round(progress.assigned - started, 2),
                "gate_heartbeats_s": round(hold - progress.converged, 2),
                "soak_s": round(end - hold, 2),
                "stage_s": round(end - progress.assigned, 2),
            }
        )
    converged = max(progress.converged or 0.0 for progress in stages.values())
    # Until the last device converged: every stage's publishing and converging, and the gate
    # heartbeats and soak of every stage but the last (its soak comes after).
    before_last = rows[:-1]
    split = {
        "publishing_converging_s": round(sum(row["converged_s"] for row in rows), 2),
        "gate_heartbeats_s": round(sum(row["gate_heartbeats_s"] for row in before_last), 2),
        "soak_s": round(sum(row["soak_s"] for row in before_last), 2),
    }
    return {
        "time_split": split,
        "command_s": round(started - launched, 2),
        "to_converged_s": round(converged - started, 2),
        "to_completed_s": round(ended[len(stages) - 1] - started, 2),
        "stages": rows,
        "events": [[action, stage + 1, round(at - started, 2)] for action, stage, at in events],
    }


def tick_figures(log: str, since: float) -> dict[str, Any]:
    """How long the gate's ticks took since `since`."""
    ticks = [json.loads(line[5:]) for line in log.splitlines() if line.startswith("tick {")]
    took = [tick["s"] for tick in ticks if tick["at"] >= since]
    if not took:
        return {"ticks": 0}
    return {"ticks": len(took), **percentiles(took, (50, 95)), "max": round(max(took), 3)}


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    environ = dict(os.environ)
    devices = [(f"bench-{n:05d}", secrets.token_urlsafe(12)) for n in range(args.devices)]
    ids = [device for device, _ in devices]
    bridge = (BRIDGE_USER, secrets.token_urlsafe(16))
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        work = Path(tmp)
        work.chmod(0o711)  # the broker runs as its own user and must reach its folder
        storage = stack.enter_context(closing(BenchStorage(environ, "rollout")))
        broker = FleetBroker(work / "broker", prefix=PREFIX, site=SITE, devices=devices,
                             bridge=bridge)  # fmt: skip
        stack.callback(broker.close)
        env = bridge_env(storage.variables(), broker.port, bridge)
        run_cloud(env, "migrate", "--noinput")
        provision(env, ids)
        upload_models(env, work)
        bridge_process = Background(
            cloud_command("mqtt_bridge"), {**env, "SIGHTLINE_CLOUD_LOG_LEVEL": "INFO"},
            work / "bridge.log",
        )  # fmt: skip
        stack.callback(bridge_process.stop)
        bridge_process.wait_for("connected to the broker")
        specs = work / "specs.json"
        specs.write_text(
            json.dumps([{"device_id": d, "site": SITE, "password": p} for d, p in devices]),
            encoding="utf-8",
        )
        fleet = Fleet(specs, broker.port, args.heartbeat_s, work)
        stack.callback(fleet.stop)
        fleet.wait_connected(len(devices))
        ticker = Background(
            cloud_command("shell", "--no-imports", "-c", TICKER.format(period=args.tick_s)),
            env, work / "ticker.log",
        )  # fmt: skip
        stack.callback(ticker.stop)
        db = stack.enter_context(closing(Database(storage.database_url)))

        # The baseline: every device at once, no gate.
        device_args = [arg for device in ids for arg in ("--device", device)]
        run_cloud(env, "models", "assign", MODEL, "1", *device_args, "--reason", "baseline")
        whole = Progress(ids, db.assigned_at())
        wait_converged(db, whole, "version 1 on every device", fleet)
        base = whole.summary()
        logger.info("baseline: %s", base)
        # The gate compares each device with its own health on version 1 over baseline_s.
        time.sleep(args.baseline_s)

        rollout_started = time.time()
        rollout = run_rollout(args, env, db, fleet)
        ticks = tick_figures(ticker.output(), rollout_started)
        errors = [line for line in bridge_process.output().splitlines() if "Traceback" in line]
    return {
        "machine": {**machine_facts(), "load_after": load_average()},
        "devices": args.devices,
        "heartbeat_s": args.heartbeat_s,
        "soak_s": args.soak_s,
        "baseline_s": args.baseline_s,
        "tick_s": args.tick_s,
        "stages_asked": args.stages,
        "baseline": base,
        "rollout": rollout,
        "gate_ticks": ticks,
        "bridge_tracebacks": len(errors),
    }


def render(result: dict[str, Any]) -> str:
    machine, rollout, base = result["machine"], result["rollout"], result["baseline"]
    lines = [
        f"machine: {machine['cpus']} CPUs, {machine['cpu_model']}, load after "
        f"{machine['load_after']}",
        f"{result['devices']} devices, heartbeat every {result['heartbeat_s']} s; stages "
        f"{result['stages_asked']}, soak {result['soak_s']} s, gate every {result['tick_s']} s",
        "",
        f"baseline, one assign of all {base['devices']} devices (no gate): published in "
        f"{base['published_s']} s ({base['publish_per_s']}/s), converged in "
        f"{base['converged_s']} s",
        f"rollout: started -> 100% converged {rollout['to_converged_s']} s "
        f"(x{rollout['to_converged_s'] / base['converged_s']:.1f} the baseline); -> completed "
        f"(last soak) {rollout['to_completed_s']} s; the start command took "
        f"{rollout['command_s']} s before its start",
        "until 100% converged: publishing and converging {publishing_converging_s} s, gate "
        "heartbeats {gate_heartbeats_s} s, soak {soak_s} s".format(**rollout["time_split"]),
        "",
        f"{'stage':>5} {'devices':>7} {'at s':>6} {'published':>10} {'pub/s':>7} "
        f"{'converged':>10} {'gate hb':>8} {'soak':>6} {'stage s':>8}",
    ]
    for row in rollout["stages"]:
        lines.append(
            f"{row['stage']:>5} {row['devices']:>7} {row['assigned_at_s']:>6} "
            f"{row['published_s']:>10} {row['publish_per_s'] or '-':>7} "
            f"{row['converged_s']:>10} {row['gate_heartbeats_s']:>8} {row['soak_s']:>6} "
            f"{row['stage_s']:>8}"
        )
    ticks = result["gate_ticks"]
    lines += [
        "",
        f"gate ticks during the rollout: {ticks.get('ticks')}, p50 {ticks.get('p50')} s, "
        f"p95 {ticks.get('p95')} s, max {ticks.get('max')} s",
        "",
        "definitions:",
        "  published: from the stage's assignment until the bridge had published every desired",
        f"    state of it (polled every {POLL_S} s); pub/s: devices over that time, the wait",
        f"    for the bridge's next pass included (-: under {RATE_MIN_DEVICES} devices).",
        "  converged: from the assignment until the last device's report of it arrived.",
        "  gate hb: from then until the gate first held: the heartbeats it needs on the new",
        "    model (GateBounds.min_samples) and the tick that judges them.",
        "  soak: from the gate holding until the next stage started (or the rollout completed).",
        "  at s: when the stage was assigned, from the rollout's start.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_rollout")
    parser.add_argument("--devices", type=int, default=1000, help="simulated devices")
    parser.add_argument("--heartbeat-s", type=float, default=5.0, help="heartbeat interval")
    parser.add_argument("--stages", default="1,10%,50%,100%", help="rollout stage sizes")
    parser.add_argument("--soak-s", type=int, default=10, help="how long each gate must hold")
    parser.add_argument("--baseline-s", type=int, default=20, help="health history compared")
    parser.add_argument("--tick-s", type=float, default=1.0, help="how often the gate runs")
    return report(benchmark, render, parser.parse_args(argv), (contract.MissingVariable,))


if __name__ == "__main__":
    sys.exit(main())
