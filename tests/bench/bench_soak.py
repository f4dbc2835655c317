"""Soak benchmark: the agent's memory over a long run of 8 cameras, one RTSP camera killed and
restored half-way.

    uv run python -m tests.bench.bench_soak [--minutes 20] [--warmup-minutes 3] [--cameras 8]
        [--rtsp 2] [--fps 2] [--outage-s 20]

The real agent (`python -m edge run`, NanoDet-g on ONNX Runtime, one thread per camera) runs
`--cameras` cameras for `--minutes`: `--rtsp` of them read real RTSP cameras
(`tests.services.rtsp_server`, H.264 over TCP, one server each), the others read a file at the
video's own rate (`realtime: true`), as a camera delivers. Every camera's footage is vtest.avi
looped for the whole run (`tests.footage.clips.looped_path`), sampled at `--fps`. Half-way the
first RTSP server is killed (SIGKILL, a power cut) and started again `--outage-s` later.

Delivery: the outbox only (the spool, no uplink or MQTT). The agent's own memory is what is
measured: decode, detector, tracker, crop selection, JPEG encoding and the spool all run as in
production, while the run needs none of the services other people's tests share, and whatever
the cloud does cannot slow the agent down. Delivery to the cloud is checked, by id, by
tests/integration/test_many_cameras.py.

Every `--interval-s` (10 s) the agent's resident set (VmRSS in /proc/PID/status) is sampled,
with each camera's processed frames (its DEBUG per-frame records, `tests.edge.agent_log`). The
first `--warmup-minutes` are warm-up (model load, ONNX Runtime's arenas, decoder buffers, the
trackers' and spool's first fills) and are excluded: growth is (end - after warm-up) /
after warm-up, where "after warm-up" is the first sample at or past the warm-up and "end" the
last sample. The target is under 5 %. A stall is a sampling interval in which a camera processed
no frame; the killed camera's intervals from its kill to its first frame after the restart are
not counted as stalls.

Not a pytest test: it takes `--minutes` and its figures depend on the machine. It prints a table
and, as the last line, one JSON object.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.bench.measure import (
    BenchError,
    cpu_sample,
    load_average,
    machine_facts,
    other_cores,
    report,
)
from tests.edge.agent_log import AgentLog
from tests.footage.clips import looped_path
from tests.services.rtsp_server import RtspServer, unavailable

REPO = Path(__file__).resolve().parents[2]
_LOOP_S = 79.5
"""vtest.avi: 795 frames at 10 fps."""
_STOP_TIMEOUT_S = 60.0


@dataclass
class Sample:
    """One sampling moment: seconds since the agent started, its RSS, each camera's frames."""

    at_s: float
    rss_mib: float
    frames: dict[str, int]


@dataclass
class Outage:
    """When the killed camera was down (seconds since the start), and when it came back."""

    camera_id: str
    killed_s: float
    restored_s: float
    first_frame_after_s: float | None = None
    frames_before: int = 0


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    outage: Outage | None = None


def rss_mib(pid: int) -> float:
    """The resident set of process `pid`, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise BenchError(f"process {pid} reports no VmRSS")


def camera_ids(cameras: int, rtsp: int) -> tuple[list[str], list[str]]:
    """The RTSP cameras' ids, then the file cameras'."""
    return [f"rtsp-{i}" for i in range(rtsp)], [f"file-{i}" for i in range(cameras - rtsp)]


def agent_config(
    work: Path, video: Path, files: list[str], rtsp: dict[str, RtspServer], fps: float
) -> Path:
    """The agent's config: the file cameras paced like live, the RTSP ones with a short
    watchdog, delivery to the outbox only (see the module docstring)."""
    cameras: list[dict[str, Any]] = [
        {"id": camera_id, "source": {"url": str(video), "fps": fps, "realtime": True}}
        for camera_id in files
    ]
    cameras += [
        {"id": camera_id, "source": server.agent_source(fps, timeout_s=3.0, backoff_s=(0.5, 2.0))}
        for camera_id, server in rtsp.items()
    ]
    config = {
        "device": {"id": "soak", "site": "bench", "hardware_profile": "x86-cpu"},
        "detector": {
            "type": "ort",
            "model": {"manifest": str(REPO / "models/nanodet-g.toml")},
            "intra_op_threads": 1,
        },
        "cameras": cameras,
        "delivery": {"outbox": {"path": str(work / "outbox.sqlite3")}, "drain_timeout_s": 1.0},
        "log_level": "DEBUG",
    }
    path = work / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def soak(
    agent: subprocess.Popen[bytes],
    log: AgentLog,
    servers: dict[str, RtspServer],
    args: argparse.Namespace,
) -> Run:
    """Sample the running agent until `--minutes` are up; kill and restore the first RTSP
    camera half-way."""
    run = Run()
    started = time.monotonic()
    duration_s = args.minutes * 60
    half = duration_s / 2
    killed = next(iter(servers), None)
    next_sample = 0.0
    while (now := time.monotonic() - started) < duration_s:
        if agent.poll() is not None:
            raise BenchError(f"the agent exited early (code {agent.returncode}): see its log")
        if killed is not None and run.outage is None and now >= half:
            servers[killed].kill()
            run.outage = Outage(killed, now, now + args.outage_s, frames_before=log.frames[killed])
        outage = run.outage
        if outage is not None and outage.restored_s <= now and killed is not None:
            if not servers[killed].running:
                servers[killed].start()
            if outage.first_frame_after_s is None and log.frames[killed] > outage.frames_before:
                outage.first_frame_after_s = now
        if now >= next_sample:
            run.samples.append(Sample(round(now, 1), rss_mib(agent.pid), log.poll()))
            next_sample += args.interval_s
        time.sleep(0.5)
        log.poll()
    run.samples.append(Sample(round(time.monotonic() - started, 1), rss_mib(agent.pid), log.poll()))
    return run


def stop(agent: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as a supervisor stops the agent; it ends its tracks and exits."""
    agent.send_signal(signal.SIGTERM)
    try:
        agent.wait(_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        agent.kill()
        agent.wait()
        raise BenchError(
            f"the agent did not stop within {_STOP_TIMEOUT_S:.0f} s of SIGTERM"
        ) from None


def stalls(run: Run, camera_id: str) -> int:
    """Sampling intervals in which `camera_id` processed nothing (outside its outage)."""
    count = 0
    outage = run.outage
    for before, after in zip(run.samples, run.samples[1:], strict=False):
        if outage is not None and outage.camera_id == camera_id:
            back = (
                outage.first_frame_after_s if outage.first_frame_after_s is not None else math.inf
            )
            if after.at_s >= outage.killed_s and before.at_s <= back:
                continue
        count += after.frames.get(camera_id, 0) <= before.frames.get(camera_id, 0)
    return count


def summarise(run: Run, log: AgentLog, ids: list[str], args: argparse.Namespace) -> dict[str, Any]:
    warmup_s = args.warmup_minutes * 60
    warm = next((s for s in run.samples if s.at_s >= warmup_s), None)
    if warm is None or warm is run.samples[-1]:
        raise BenchError("the run ended before the warm-up did: raise --minutes")
    end = run.samples[-1]
    seconds = end.at_s - warm.at_s
    cameras = {
        camera_id: {
            "frames": end.frames.get(camera_id, 0),
            "fps": round(
                (end.frames.get(camera_id, 0) - warm.frames.get(camera_id, 0)) / seconds, 2
            ),
            "reconnects": log.reconnects(camera_id),
            "stalled_intervals": stalls(run, camera_id),
        }
        for camera_id in ids
    }
    outage = run.outage
    return {
        "minutes": args.minutes,
        "warmup_minutes": args.warmup_minutes,
        "cameras": len(ids),
        "rtsp_cameras": args.rtsp,
        "fps_per_camera": args.fps,
        "samples": len(run.samples),
        "rss_mib": {
            "start": round(run.samples[0].rss_mib, 1),
            "after_warmup": round(warm.rss_mib, 1),
            "end": round(end.rss_mib, 1),
            "max": round(max(s.rss_mib for s in run.samples), 1),
        },
        "growth_pct": round((end.rss_mib - warm.rss_mib) / warm.rss_mib * 100, 2),
        "rss_series_mib": [[s.at_s, round(s.rss_mib, 1)] for s in run.samples],
        "per_camera": cameras,
        "outage": None
        if outage is None
        else {
            "camera": outage.camera_id,
            "killed_s": round(outage.killed_s, 1),
            "restored_s": round(outage.restored_s, 1),
            "first_frame_after_s": outage.first_frame_after_s
            and round(outage.first_frame_after_s, 1),
        },
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    if args.rtsp and (reason := unavailable()) is not None:
        raise BenchError(reason)
    if not 0 <= args.rtsp <= args.cameras:
        raise BenchError("--rtsp must be between 0 and --cameras")
    loops = math.ceil((args.minutes * 60 + 120) / _LOOP_S)
    video = looped_path(loops)
    rtsp_ids, file_ids = camera_ids(args.cameras, args.rtsp)
    servers = {camera_id: RtspServer(video) for camera_id in rtsp_ids}
    before = cpu_sample()
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        config = agent_config(work, video, file_ids, servers, args.fps)
        log_path = work / "agent.log"
        log = AgentLog(log_path)
        try:
            for server in servers.values():
                server.start()
            with log_path.open("wb") as stderr:
                agent = subprocess.Popen(
                    [sys.executable, "-m", "edge", "run", "--config", str(config)],
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    cwd=REPO,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
                try:
                    run = soak(agent, log, servers, args)
                finally:
                    stop(agent)
        except BenchError:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            sys.stderr.write(f"agent log tail:\n{tail}\n")
            raise
        finally:
            for server in servers.values():
                server.kill()
        log.poll()
    result = summarise(run, log, rtsp_ids + file_ids, args)
    result["machine"] = machine_facts()
    result["load_average"] = {"start": load_before, "end": load_average()}
    result["other_cores"] = other_cores(before)
    return result


def render(result: dict[str, Any]) -> str:
    rss = result["rss_mib"]
    lines = [
        f"{result['cameras']} cameras ({result['rtsp_cameras']} RTSP) at "
        f"{result['fps_per_camera']} fps for {result['minutes']} min, warm-up "
        f"{result['warmup_minutes']} min excluded",
        f"RSS MiB: start {rss['start']}, after warm-up {rss['after_warmup']}, end {rss['end']}, "
        f"max {rss['max']}; growth after warm-up {result['growth_pct']:+.2f} %",
        f"{'camera':<10} {'frames':>8} {'fps':>6} {'reconnects':>10} {'stalls':>7}",
    ]
    for camera_id, figures in result["per_camera"].items():
        lines.append(
            f"{camera_id:<10} {figures['frames']:>8} {figures['fps']:>6} "
            f"{figures['reconnects']:>10} {figures['stalled_intervals']:>7}"
        )
    lines.append(f"outage: {result['outage']}")
    lines.append(
        f"load average {result['load_average']}, other processes kept "
        f"{result['other_cores']} cores busy"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the run")
    parser.add_argument(
        "--warmup-minutes", type=float, default=3.0, help="first minutes left out of the growth"
    )
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--rtsp", type=int, default=2, help="cameras reading RTSP servers")
    parser.add_argument("--fps", type=float, default=2.0, help="frames per second per camera")
    parser.add_argument(
        "--outage-s", type=float, default=20.0, help="how long the killed RTSP camera stays down"
    )
    parser.add_argument("--interval-s", type=float, default=10.0, help="RSS sampling period")
    return report(benchmark, render, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
