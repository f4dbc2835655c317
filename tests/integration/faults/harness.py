"""The fault-injection suite's harness: a deployment on the real services, the real agent, and
the checks of every store by id, so that each scenario reads as the story of its fault.

- `CloudProcesses`: the cloud's processes as deployed (`python -m cloud ingest_grpc`, a Celery
  worker of the `embed` queue, Celery beat, `python -m cloud mqtt_bridge`), each of which a
  scenario may stop, kill -9 and start again (the ingest server on the same port).
- `PrivateBroker`: a Mosquitto of one test, started as tests/services starts the shared one
  (dynamic security, persistence off), which the test may kill and start again: the shared
  broker must keep running for other tests.
- `Agent`: `python -m edge run` as a process, logging DEBUG JSON lines; `produced()` reads from
  them what it spooled: each crop by its detection id, each record by its seq.
- `Stores`: what PostgreSQL, the object store and the vector store hold for the test, and the
  device's status and latest heartbeat (`fleet.DeviceHealth`, what the devices page shows).
- `assert_exactly_once`: the check every scenario ends with; `Losses` what a device counted
  as lost, as its own files and as its heartbeat say.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import psycopg
import yaml
from minio import Minio
from pydantic import SecretStr
from weaviate import WeaviateClient

from cloud.fleet.broker import BrokerAdminSettings, MosquittoAccounts
from cloud.lib.vectorstore import object_uuid
from demo import stack
from edge.journal import Journal, JournalSettings, journal_path
from edge.transport.outbox import Outbox, OutboxSettings
from tests.cloud.ingest.processes import Background, celery_worker, cloud_command, run_cloud
from tests.services import contract
from tests.services.base import Context
from tests.services.mosquitto import SERVER_USER, Mosquitto
from tests.services.procs import free_ports, identify, spawn, stop, wait_until
from tests.services.state import StateDir

REPO = Path(__file__).resolve().parents[3]
T = TypeVar("T")

# Cloud settings of every scenario: the sweep that re-queues crops without a vector runs every
# second for crops stored over 3 s ago, and Redis hands a task whose worker died to another
# worker after 15 s rather than after the deployment's minutes. In-flight upload streams get a
# second when the ingest server stops.
CLOUD_SETTINGS: Mapping[str, str] = {
    "SIGHTLINE_CLOUD_EMBED_SWEEP_INTERVAL_S": "1",
    "SIGHTLINE_CLOUD_EMBED_SWEEP_GRACE_S": "3",
    "SIGHTLINE_CLOUD_CELERY_TASK_SOFT_TIME_LIMIT": "8",
    "SIGHTLINE_CLOUD_CELERY_TASK_TIME_LIMIT": "10",
    "SIGHTLINE_CLOUD_CELERY_VISIBILITY_TIMEOUT": "15",
    "SIGHTLINE_CLOUD_INGEST_GRACE_S": "1",
}


def wait_for(check: Callable[[], T | None], what: str, timeout_s: float, poll_s: float = 0.2) -> T:
    """Poll `check` until it returns something true; return that. Fails naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s (last: {found!r})")
        time.sleep(poll_s)


# The broker and the accounts on it ---------------------------------------------------------


@dataclass(frozen=True)
class BrokerAccess:
    """A broker the deployment uses: where it listens and its account API."""

    host: str
    port: int
    topic_prefix: str
    accounts: MosquittoAccounts


@dataclass(frozen=True)
class Enrolment:
    """The test device's and the bridge's broker accounts, each its own (made, as enrolment
    makes them, through `cloud.fleet.broker.MosquittoAccounts`)."""

    site: str
    device_id: str
    device_password: str
    bridge_user: str
    bridge_password: str

    @classmethod
    def make(cls, broker: BrokerAccess, site: str) -> Enrolment:
        """New accounts under random names: tests of other sessions share the broker, and
        remaking the fixed test device accounts would cut their agents off."""
        suffix = secrets.token_hex(4)
        enrolment = cls(
            site=site,
            device_id=f"cam-{suffix}",
            device_password=secrets.token_urlsafe(18),
            bridge_user=f"bridge-{suffix}",
            bridge_password=secrets.token_urlsafe(18),
        )
        broker.accounts.put_device(enrolment.device_id, site, enrolment.device_password)
        broker.accounts.put_bridge(enrolment.bridge_user, enrolment.bridge_password, [site])
        return enrolment

    def remove(self, broker: BrokerAccess) -> None:
        """Delete both accounts."""
        broker.accounts.delete(self.device_id)
        broker.accounts.delete(self.bridge_user)


class PrivateBroker:
    """A Mosquitto of this test alone (tests/services/mosquitto.py's service, same config):
    `kill()` it, `start()` it again on the same ports with the same accounts; with persistence
    off, as in tests, it forgets sessions and retained messages in between."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: run as root, the tests start the server as the
        # mosquitto user, which cannot enter root's private pytest directory.
        self._root = Path(tempfile.mkdtemp(prefix="sightline-broker-"))
        self._root.chmod(0o755)
        self._state = StateDir(self._root)
        self._service = Mosquitto()
        self._process: subprocess.Popen[bytes] | None = None
        try:
            # The service drops its handle of the running server (manage.py tracks servers by
            # pid), which Python reports as a ResourceWarning; `kill` and `close` reap it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                self._running = self._service.start(Context(self._state, cache_dir=self._root))
        except BaseException:
            shutil.rmtree(self._root, ignore_errors=True)
            raise
        env = self._running.env
        self.access = BrokerAccess(
            host=env[contract.MQTT_HOST],
            port=int(env[contract.MQTT_PORT]),
            topic_prefix=env[contract.MQTT_TOPIC_PREFIX],
            accounts=MosquittoAccounts(
                BrokerAdminSettings(
                    host=env[contract.MQTT_HOST],
                    port=int(env[contract.MQTT_PORT]),
                    username=env[contract.MQTT_ADMIN_USER],
                    password=SecretStr(env[contract.MQTT_ADMIN_PASSWORD]),
                    topic_prefix=env[contract.MQTT_TOPIC_PREFIX],
                )
            ),
        )

    def kill(self) -> None:
        """kill -9, as a crash or a host reboot would end it."""
        self._stop(signal.SIGKILL)

    def _stop(self, sig: signal.Signals) -> None:
        stop(self._running.process, sig)
        if self._process is not None:
            self._process.wait()  # reaped by `stop` already; this settles the handle

    def start(self) -> None:
        """Start it again with the same configuration (ports, accounts) and wait until it
        accepts the admin login."""
        config = self._state.service_dir(self._service.name) / "mosquitto.conf"
        log = self._state.log_path(self._service.name)
        process = spawn(["/usr/sbin/mosquitto", "-c", config], log_path=log, user=SERVER_USER)
        self._process = process
        self._running = replace(self._running, process=identify(process.pid))
        running = self._running
        wait_until(
            lambda: self._service.is_ready(running),
            what="mosquitto",
            timeout=30,
            process=process,
            log_path=log,
        )

    def close(self) -> None:
        """Stop it and remove its files."""
        try:
            self._stop(signal.SIGTERM)
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> PrivateBroker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# The cloud --------------------------------------------------------------------------------

ProcessName = Literal["ingest", "worker", "beat", "bridge"]
ALL: tuple[ProcessName, ...] = ("ingest", "worker", "beat", "bridge")
_READY: Mapping[ProcessName, str] = {
    "ingest": r"ingest server listening on port \d+",
    "worker": r"ready\.",
    "beat": r"beat: Starting",
    "bridge": r"connected to the broker",
}

_PROVISION = textwrap.dedent(
    """
    from django.core.management import call_command
    call_command("provision_device", {device!r}, "--hardware", "x86-cpu", "--site", {site!r})
    call_command("device_token", {device!r})
    """
)


def bridge_variables(broker: BrokerAccess, enrolment: Enrolment) -> dict[str, str]:
    """Cloud settings of a bridge serving the test's site under its own account (its client
    id defaults to the user name, which the broker binds the account to)."""
    return {
        "SIGHTLINE_CLOUD_MQTT_HOST": broker.host,
        "SIGHTLINE_CLOUD_MQTT_PORT": str(broker.port),
        "SIGHTLINE_CLOUD_MQTT_USERNAME": enrolment.bridge_user,
        "SIGHTLINE_CLOUD_MQTT_PASSWORD": enrolment.bridge_password,
        "SIGHTLINE_CLOUD_MQTT_TOPIC_PREFIX": broker.topic_prefix,
        "SIGHTLINE_CLOUD_MQTT_SITES": enrolment.site,
    }


# The devices page as an operator sees it, rendered by the deployment's Django.
_DEVICES_PAGE = textwrap.dedent(
    """
    from django.contrib.auth.models import User
    from django.test import Client
    client = Client(HTTP_HOST="localhost")
    # A superuser is an admin: every device is visible (cloud.access).
    admin = User.objects.get_or_create(
        username="operator", defaults={"is_superuser": True, "is_staff": True}
    )[0]
    client.force_login(admin)
    response = client.get("/devices/")
    assert response.status_code == 200, response.status_code
    print(response.content.decode())
    """
)


def device_row(page: str, device_id: str) -> tuple[bool, dict[str, str]]:
    """One device's row of the devices page: whether it is marked as having lost something,
    and the text of its cells by column heading ("Outbox", "Interrupted tracks", ...)."""
    row = re.search(
        rf'<tr id="device-{re.escape(device_id)}"( class="error")?>(.*?)</tr>', page, re.S
    )
    assert row is not None, f"no row of {device_id} on the devices page"
    head = re.search(r"<thead>(.*?)</thead>", page, re.S)
    assert head is not None, "the devices page has no table heading"
    headings = [_text(cell) for cell in re.findall(r"<th[^>]*>(.*?)</th>", head[1], re.S)]
    cells = [_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[2], re.S)]
    return row[1] is not None, dict(zip(headings, cells, strict=True))


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def provision(env: Mapping[str, str], enrolment: Enrolment) -> str:
    """Provision the device in the (migrated) database and issue its token (one Django start);
    return the token."""
    script = _PROVISION.format(device=enrolment.device_id, site=enrolment.site)
    return run_cloud(env, "shell", "--no-imports", "-c", script).strip().splitlines()[-1]


class CloudProcesses:
    """The cloud's long-running processes of one test, each started, stopped or killed by name;
    a log file per start (`<name>-<n>.log`)."""

    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        (self.ingest_port,) = free_ports(1)
        # A fixed port, so that an ingest server started again is where the agent expects it.
        self._env = {**env, "SIGHTLINE_CLOUD_INGEST_ADDRESS": f"127.0.0.1:{self.ingest_port}"}
        self._logs = logs
        self._running: dict[ProcessName, Background] = {}
        self._starts: Counter[ProcessName] = Counter()

    def start(self, *names: ProcessName) -> None:
        """Start these processes together and wait until each one is ready."""
        for name in names:
            assert name not in self._running, f"{name} runs already"
            self._starts[name] += 1
            log = self._logs / f"{name}-{self._starts[name]}.log"
            self._running[name] = Background(self._argv(name), self._env, log)
        for name in names:
            self._running[name].wait_for(_READY[name], timeout_s=120)

    def _argv(self, name: ProcessName) -> list[str]:
        if name == "ingest":
            return cloud_command("ingest_grpc")
        if name == "worker":
            return celery_worker("embed")
        if name == "beat":
            schedule = self._logs / "celerybeat-schedule"
            return [*stack.celery_beat([sys.executable], schedule), "--loglevel", "INFO"]
        return cloud_command("mqtt_bridge")

    def stop(self, name: ProcessName) -> None:
        """SIGTERM, as a deployment stops it; waits for the exit."""
        self._running.pop(name).stop()

    def kill(self, name: ProcessName) -> None:
        """kill -9, as a crash or the OOM killer would end it."""
        self._running.pop(name).kill()

    def command(self, *args: str) -> str:
        """Run ``python -m cloud ARGS`` with the deployment's settings; its stdout."""
        return run_cloud(self._env, *args)

    def devices_page(self) -> str:
        """The HTML of the devices page (what an operator sees of each device's losses)."""
        return run_cloud(self._env, "shell", "--no-imports", "-c", _DEVICES_PAGE)

    def output(self, name: ProcessName) -> str:
        """What every start of the process has logged."""
        return "".join(
            (self._logs / f"{name}-{n}.log").read_text(errors="replace")
            for n in range(1, self._starts[name] + 1)
        )

    def close(self) -> None:
        """Stop whatever still runs."""
        for name in list(self._running):
            self.stop(name)


# The agent --------------------------------------------------------------------------------

_CROP = re.compile(r"crop (?P<id>[0-9a-f-]{36}) spooled \((?P<label>[^,]+), track (?P<track>\S+)\)")
_SESSION = re.compile(r"MQTT connected to \S+ \(session (\d+)\)")
_FRAME = re.compile(r"camera \S+ frame (\d+):")


@dataclass(frozen=True)
class CropMade:
    """A crop the agent spooled."""

    id: str
    label: str
    track_id: str


@dataclass(frozen=True)
class SummaryMade:
    """A track summary the agent spooled."""

    seq: int
    track_id: str
    first_seen: datetime
    last_seen: datetime
    ended: bool


@dataclass(frozen=True)
class EventMade:
    """An event the agent spooled."""

    seq: int
    name: str


@dataclass(frozen=True)
class Produced:
    """What the agent spooled, each kind in spool order (one camera: one producing thread)."""

    crops: tuple[CropMade, ...] = ()
    """Every crop logged as spooled (also one dead-lettered because no encoding fitted the
    message limit: the device counts that among its dead letters)."""
    records: tuple[SummaryMade | EventMade, ...] = ()

    @property
    def summaries(self) -> list[SummaryMade]:
        """The track summaries."""
        return [r for r in self.records if isinstance(r, SummaryMade)]

    @property
    def events(self) -> list[EventMade]:
        """The events."""
        return [r for r in self.records if isinstance(r, EventMade)]

    def without_oldest(self, *, crops: int, records: int) -> Produced:
        """What is left after the outbox dropped the oldest rows of each lane."""
        return replace(self, crops=self.crops[crops:], records=self.records[records:])


def produced_from(lines: list[dict[str, Any]]) -> Produced:
    """What the agent's `edge.delivery` DEBUG lines say it spooled."""
    crops: list[CropMade] = []
    records: list[SummaryMade | EventMade] = []
    for line in lines:
        if line.get("logger") != "edge.delivery":
            continue
        message = str(line.get("message", ""))
        if crop := _CROP.fullmatch(message):
            crops.append(CropMade(crop["id"], crop["label"], crop["track"]))
        elif message.startswith("track summary "):
            records.append(
                SummaryMade(
                    seq=int(line["seq"]),
                    track_id=str(line["track_id"]),
                    first_seen=datetime.fromisoformat(line["first_seen"]),
                    last_seen=datetime.fromisoformat(line["last_seen"]),
                    ended=bool(line["ended"]),
                )
            )
        elif message.startswith("event "):
            records.append(EventMade(seq=int(line["seq"]), name=str(line["event"])))
    return Produced(crops=tuple(crops), records=tuple(records))


def agent_config(
    directory: Path,
    *,
    enrolment: Enrolment,
    broker: BrokerAccess,
    ingest_port: int,
    clip: Path,
    mqtt_port: int | None = None,
    outbox: Mapping[str, Any] | None = None,
) -> Path:
    """Write the agent's config: one camera playing `clip` in real time at 5 fps, heartbeats
    every second, small batches and short backoffs so faults show and heal within seconds.
    `mqtt_port` replaces the broker's (a proxy in front of it); `outbox` adds outbox settings
    (bounds)."""
    config = {
        "device": {"id": enrolment.device_id, "site": enrolment.site},
        "detector": {"type": "ort", "model": {"manifest": str(REPO / "models/nanodet-g.toml")}},
        "cameras": [{"id": "lobby", "source": {"url": str(clip), "fps": 5, "realtime": True}}],
        "delivery": {
            "outbox": {"path": str(directory / "outbox.sqlite3"), **(outbox or {})},
            "mqtt": {
                "host": broker.host,
                "port": mqtt_port or broker.port,
                "username": enrolment.device_id,
                "topic_prefix": broker.topic_prefix,
                "heartbeat_s": 1.0,
                "connect_timeout_s": 5.0,
                "reconnect": {"initial_s": 0.2, "max_s": 1.0},
            },
            "uplink": {"target": f"127.0.0.1:{ingest_port}", "deadline_s": 10.0},
            "sender": {
                "crop_batch": 4,
                "record_batch": 8,
                "idle_poll_s": 0.2,
                "backoff": {"initial_s": 0.2, "max_s": 1.0},
            },
            "drain_timeout_s": 90.0,
        },
        "log_level": "DEBUG",
        "log_format": "json",
    }
    path = directory / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Agent:
    """`python -m edge run --config FILE` as a process; each `start` is a new run of the same
    config (so the same outbox and journal), with its own log file (`agent-<n>.log`)."""

    def __init__(self, config: Path, secrets: Mapping[str, str], logs: Path) -> None:
        self.config = config
        self._env = {
            **os.environ,
            **secrets,
            "SIGHTLINE_EDGE_LOG_LEVEL": "DEBUG",
            "SIGHTLINE_EDGE_LOG_FORMAT": "json",
        }
        self._logs = logs
        self._runs: list[Path] = []
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def outbox(self) -> Path:
        """The outbox file the config names."""
        loaded = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        return Path(loaded["delivery"]["outbox"]["path"])

    def start(self) -> None:
        """Start a run."""
        assert self._process is None or self._process.poll() is not None, "the agent runs"
        run = len(self._runs) + 1
        log = self._logs / f"agent-{run}.log"
        self._runs.append(log)
        with log.open("wb") as stderr, (self._logs / f"agent-{run}.out").open("wb") as stdout:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "edge", "run", "--config", str(self.config)],
                env=self._env,
                stdout=stdout,
                stderr=stderr,
            )

    def kill(self) -> None:
        """kill -9, as a crash, the OOM killer or a power cut would end it."""
        assert self._process is not None
        self._process.kill()
        self._process.wait()

    def wait(self, timeout_s: float = 240.0) -> dict[str, Any]:
        """Wait for the run to end by itself (the clip ended and the outbox drained); return
        its JSON run summary. Fails unless it exits 0."""
        assert self._process is not None
        try:
            code = self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"agent still running after {timeout_s} s:\n{self.tail()}"
            ) from None
        assert code == 0, f"agent exited {code}:\n{self.tail()}"
        out = self._runs[-1].with_suffix(".out").read_text(encoding="utf-8")
        summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return summary

    def close(self) -> None:
        """Kill a run a failed test left behind."""
        if self._process is not None and self._process.poll() is None:
            self.kill()

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON log line of every run so far (anything else written to stderr skipped)."""
        lines = []
        for log in self._runs:
            for text in log.read_text(encoding="utf-8", errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    line = json.loads(text)
                    if isinstance(line, dict):
                        lines.append(line)
        return lines

    def messages(self, pattern: str) -> list[re.Match[str]]:
        """Matches of `pattern` in the log messages of every run, in order."""
        regex = re.compile(pattern)
        return [m for line in self.lines() if (m := regex.search(str(line.get("message", ""))))]

    def logged_at(self, pattern: str) -> datetime | None:
        """When the first log line whose message matches `pattern` was written."""
        regex = re.compile(pattern)
        for line in self.lines():
            if regex.search(str(line.get("message", ""))):
                return datetime.fromisoformat(line["time"])
        return None

    def produced(self) -> Produced:
        """What every run so far has spooled."""
        return produced_from(self.lines())

    def frame(self) -> int:
        """The index in the clip of the latest frame run through the detector (-1 before the
        first): where the stream is."""
        frames = self.messages(_FRAME.pattern)
        return int(frames[-1][1]) if frames else -1

    def at_frame(self, index: int) -> None:
        """Wait until the stream has reached frame `index` of the clip (10 fps)."""
        self.wait_until(lambda agent: agent.frame() >= index, f"frame {index}")

    def sessions(self) -> list[int]:
        """The MQTT sessions (`session_seq` of each birth) of every run, in order."""
        return [int(m[1]) for m in self.messages(_SESSION.pattern)]

    def wait_until(self, check: Callable[[Agent], bool], what: str, timeout_s: float = 90) -> None:
        """Wait until `check(self)` holds while the run goes on; fails if the run ends first."""

        def holds() -> bool:
            assert self._process is not None
            if check(self):
                return True
            assert self._process.poll() is None, f"the agent ended before {what}:\n{self.tail()}"
            return False

        wait_for(holds, what, timeout_s)

    def tail(self, lines: int = 40) -> str:
        """The end of the current run's log."""
        return "\n".join(self._runs[-1].read_text(errors="replace").splitlines()[-lines:])


# What the device counted as lost -------------------------------------------------------------


@dataclass(frozen=True)
class Losses:
    """What a device counted as lost: per outbox lane the rows its bound dropped and the rows
    it dead-lettered, and the tracks a crash cut short."""

    dropped: Mapping[str, int] = field(default_factory=lambda: {"record": 0, "crop": 0})
    dead_letters: Mapping[str, int] = field(default_factory=lambda: {"record": 0, "crop": 0})
    tracks_interrupted: int = 0

    @classmethod
    def counted_in(cls, outbox: Path) -> Losses:
        """The agent's own counters, read from its outbox and journal (agent stopped)."""
        with Outbox(OutboxSettings(path=outbox)) as spool:
            dropped, dead = spool.dropped(), spool.dead_lettered()
        journal = Journal(journal_path(JournalSettings(), outbox))
        try:
            interrupted = journal.tracks_interrupted_total()
        finally:
            journal.close()
        return cls(
            dropped={str(kind): n for kind, n in dropped.items()},
            dead_letters={str(kind): n for kind, n in dead.items()},
            tracks_interrupted=interrupted,
        )


@dataclass(frozen=True)
class JournalState:
    """What a dead agent's journal holds (edge/journal.py)."""

    tracks_in_progress: frozenset[str]
    position: int | None
    """Index of the last frame of the file whose effects were handed on."""

    @classmethod
    def read(cls, outbox: Path) -> JournalState:
        """Read the journal beside `outbox` (agent stopped)."""
        path = journal_path(JournalSettings(), outbox)
        assert path is not None
        with contextlib.closing(sqlite3.connect(path)) as db:
            tracks = frozenset(track for (track,) in db.execute("SELECT track_id FROM tracks"))
            row = db.execute("SELECT frame_index FROM positions").fetchone()
        return cls(tracks, None if row is None else int(row[0]))


# The stores -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectionRow:
    """What PostgreSQL holds of one crop."""

    track_id: str
    label: str
    object_key: str
    ts: datetime
    embedded: bool
    embed_attempts: int
    embed_error: str


@dataclass(frozen=True)
class Stored:
    """Everything the test's database, bucket and collection hold."""

    detections: Mapping[str, DetectionRow]
    objects: list[str]
    """Object keys in the bucket."""
    vectors: list[str]
    """Object uuids in the vector store's collection."""
    tracks: Mapping[str, tuple[datetime, datetime]]
    """Track id -> (first seen, last seen)."""
    events: Mapping[int, str]
    """The device's events: seq -> name."""


@dataclass(frozen=True)
class Heartbeat:
    """The device's latest heartbeat as the cloud stored it (`fleet.DeviceHealth`)."""

    seq: int
    session_seq: int
    sampled_at: datetime
    outbox_dropped_total: int
    tracks_interrupted_total: int
    lanes: Mapping[str, Mapping[str, Any]]
    """Per lane kind: rows, bytes, dropped_total, dead_letters_total, delivered_total, error."""

    @property
    def losses(self) -> Losses:
        """The losses it reports."""
        return Losses(
            dropped={kind: int(lane["dropped_total"]) for kind, lane in self.lanes.items()},
            dead_letters={
                kind: int(lane["dead_letters_total"]) for kind, lane in self.lanes.items()
            },
            tracks_interrupted=self.tracks_interrupted_total,
        )


class Stores:
    """Reads the test's namespaces of the real stores, and the device's rows."""

    def __init__(
        self,
        database_url: str,
        s3: Minio,
        bucket: str,
        weaviate: WeaviateClient,
        collection: str,
        device_id: str,
    ) -> None:
        self.database_url = database_url
        self._s3 = s3
        self._bucket = bucket
        self._weaviate = weaviate
        self._collection = collection
        self._device_id = device_id

    def flip_a_byte(self, key: str) -> None:
        """Alter the object under `key` in S3, as a compromised store or a bit flip would."""
        data = bytearray(self._s3.get_object(self._bucket, key).read())
        data[len(data) // 2] ^= 0x01
        self._s3.put_object(self._bucket, key, io.BytesIO(bytes(data)), len(data))

    def _query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return conn.execute(sql, args).fetchall()

    def read(self) -> Stored:
        """Everything stored now."""
        detections = {
            row[0]: DetectionRow(*row[1:])
            for row in self._query(
                "SELECT id, track_id, label, object_key, ts, embedded_at IS NOT NULL, "
                "embed_attempts, embed_error FROM detections_detection"
            )
        }
        tracks = {
            row[0]: (row[1], row[2])
            for row in self._query("SELECT id, first_seen, last_seen FROM detections_track")
        }
        events = dict(
            self._query(
                "SELECT seq, kind FROM fleet_deviceevent WHERE device_id = %s", self._device_id
            )
        )
        objects = [o.object_name or "" for o in self._s3.list_objects(self._bucket, recursive=True)]
        vectors: list[str] = []
        if self._weaviate.collections.exists(self._collection):
            collection = self._weaviate.collections.get(self._collection)
            vectors = [str(o.uuid) for o in collection.iterator(include_vector=False)]
        return Stored(detections, objects, vectors, tracks, events)

    def device_status(self) -> tuple[str, int | None]:
        """The device's status and the session it belongs to."""
        ((status, session),) = self._query(
            "SELECT status, status_seq FROM fleet_device WHERE id = %s", self._device_id
        )
        return str(status), session

    def heartbeat(self, sampled_after: datetime | None = None) -> Heartbeat | None:
        """The device's latest heartbeat; None before the first (or before the first one
        sampled after `sampled_after`)."""
        rows = self._query(
            "SELECT seq, session_seq, sampled_at, outbox_dropped_total, tracks_interrupted_total, "
            "lanes FROM fleet_devicehealth WHERE device_id = %s",
            self._device_id,
        )
        if not rows:
            return None
        seq, session, sampled_at, dropped, interrupted, lanes = rows[0]
        if sampled_after is not None and sampled_at <= sampled_after:
            return None
        by_kind = {str(lane["kind"]): lane for lane in lanes}
        return Heartbeat(seq, session, sampled_at, dropped, interrupted, by_kind)

    def event_attributes(self, name: str) -> list[dict[str, str]]:
        """The attributes of each of the device's events named `name`."""
        rows = self._query(
            "SELECT payload FROM fleet_deviceevent WHERE device_id = %s AND kind = %s ORDER BY seq",
            self._device_id,
            name,
        )
        return [dict(payload["attributes"]) for (payload,) in rows]

    def embed_runs_unfinished(self) -> set[str]:
        """Crops whose embed run started (runs are counted first) but has not ended."""
        rows = self._query(
            "SELECT id FROM detections_detection "
            "WHERE embed_attempts > 0 AND embedded_at IS NULL AND embed_error = ''"
        )
        return {row[0] for row in rows}

    def embedded(self) -> int:
        """Crops with their vector."""
        ((count,),) = self._query(
            "SELECT count(*) FROM detections_detection WHERE embedded_at IS NOT NULL"
        )
        return int(count)

    def embed_attempts(self, ids: set[str]) -> dict[str, int]:
        """The embed runs counted on each of these crops."""
        rows = self._query(
            "SELECT id, embed_attempts FROM detections_detection WHERE id = ANY(%s)", list(ids)
        )
        return {row[0]: int(row[1]) for row in rows}

    def crops(self) -> int:
        """Crops stored now."""
        ((count,),) = self._query("SELECT count(*) FROM detections_detection")
        return int(count)

    def pending_embeddings(self) -> int:
        """Crops stored without a vector and not given up on."""
        ((count,),) = self._query(
            "SELECT count(*) FROM detections_detection "
            "WHERE embedded_at IS NULL AND embed_error = ''"
        )
        return int(count)

    def settle(self, *, crops: int, session: int, timeout_s: float = 90) -> Stored:
        """Wait until `crops` crops are stored and none waits for its vector, and until the
        device's status is the OFFLINE of `session` (its goodbye, the last message it sends,
        so its last heartbeat is applied too); return what is stored then."""

        def settled() -> bool:
            return self.crops() >= crops and self.pending_embeddings() == 0

        wait_for(settled, f"{crops} crops stored, each with its vector", timeout_s)
        wait_for(
            lambda: self.device_status() == ("offline", session),
            f"status offline of session {session}",
            timeout_s=30,
        )
        return self.read()


def assert_exactly_once(expected: Produced, stored: Stored) -> None:
    """Every crop, event and track summary in `expected` is stored exactly once and nothing
    else is: ids are primary keys, so "exactly once" is "every id, and no other row".

    - crops: one row per detection id with its track and label; the object store holds
      exactly the rows' keys, each naming its id, beside context frames named for stored crops;
      the vector store exactly uuid5 of the ids;
      every row has its vector;
    - events: the device's rows are exactly the expected seqs, with their names;
    - track summaries: a track row for exactly the tracks named by a summary or a crop, and
      its span is what those summaries and stored crops say (the final summary's, when there
      is one).
    """
    crop_ids = [crop.id for crop in expected.crops]
    assert len(set(crop_ids)) == len(crop_ids), "the agent named two crops alike"
    missing = sorted(set(crop_ids) - set(stored.detections))
    extra = sorted(set(stored.detections) - set(crop_ids))
    assert not missing and not extra, f"crops missing {missing}, not made by the agent {extra}"
    assert {i: (row.track_id, row.label) for i, row in stored.detections.items()} == {
        crop.id: (crop.track_id, crop.label) for crop in expected.crops
    }
    rows = stored.detections.items()
    crop_objects = [key for key in stored.objects if key.startswith("crops/")]
    assert sorted(crop_objects) == sorted(row.object_key for _, row in rows)
    # Context frames: each named for one of the stored crops (the best of an emission).
    contexts = [key for key in stored.objects if key not in crop_objects]
    assert all(key.startswith("contexts/") for key in contexts), contexts
    assert {key.rpartition("/")[2].removesuffix(".jpg") for key in contexts} <= set(crop_ids)
    assert all(row.object_key.endswith(f"/{i}.jpg") for i, row in rows)
    assert sorted(stored.vectors) == sorted(str(object_uuid(i)) for i in crop_ids)
    assert all(row.embedded and not row.embed_error for _, row in rows)

    assert dict(stored.events) == {event.seq: event.name for event in expected.events}

    summaries = expected.summaries
    track_ids = {s.track_id for s in summaries} | {crop.track_id for crop in expected.crops}
    assert sorted(stored.tracks) == sorted(track_ids)
    for track_id, span in stored.tracks.items():
        seen = [(s.first_seen, s.last_seen) for s in summaries if s.track_id == track_id]
        seen += [(row.ts, row.ts) for _, row in rows if row.track_id == track_id]
        expected_span = (min(t[0] for t in seen), max(t[1] for t in seen))
        assert span == expected_span, f"track {track_id}: {span} stored, {expected_span} made"


def assert_every_track_ended_once(produced: Produced) -> None:
    """The agent gave every track it started exactly one final summary."""
    tracks = {s.track_id for s in produced.summaries} | {c.track_id for c in produced.crops}
    finals = Counter(s.track_id for s in produced.summaries if s.ended)
    assert finals == Counter(tracks), {t: finals[t] for t in tracks if finals[t] != 1}


@dataclass(frozen=True)
class Outcome:
    """How a scenario ended (`Deployment.finish`)."""

    summary: Mapping[str, Any]
    """The last run's JSON run summary."""
    produced: Produced
    stored: Stored
    heartbeat: Heartbeat
    """The device's last heartbeat in the cloud."""
    losses: Losses
    """What the device counted as lost (and reported: `heartbeat.losses` is the same)."""


# One test's deployment ------------------------------------------------------------------------


@dataclass
class Deployment:
    """One test's deployment: the enrolled device and its token, the cloud's processes and
    stores, and the device's agent."""

    broker: BrokerAccess
    enrolment: Enrolment
    token: str
    cloud: CloudProcesses
    stores: Stores
    directory: Path
    clip: Path
    agents: list[Agent] = field(default_factory=list)

    def agent(
        self, *, mqtt_port: int | None = None, outbox: Mapping[str, Any] | None = None
    ) -> Agent:
        """The device's agent (not started), configured by `agent_config`."""
        config = agent_config(
            self.directory,
            enrolment=self.enrolment,
            broker=self.broker,
            ingest_port=self.cloud.ingest_port,
            clip=self.clip,
            mqtt_port=mqtt_port,
            outbox=outbox,
        )
        secrets = {
            "SIGHTLINE_EDGE_DELIVERY__UPLINK__TOKEN": self.token,
            "SIGHTLINE_EDGE_DELIVERY__MQTT__PASSWORD": self.enrolment.device_password,
        }
        agent = Agent(config, secrets, self.directory)
        self.agents.append(agent)
        return agent

    def start(
        self,
        *processes: ProcessName,
        mqtt_port: int | None = None,
        outbox: Mapping[str, Any] | None = None,
    ) -> Agent:
        """Start these cloud processes, then the device's agent (see `agent`); the agent."""
        self.cloud.start(*processes)
        agent = self.agent(mqtt_port=mqtt_port, outbox=outbox)
        agent.start()
        return agent

    def finish(
        self,
        agent: Agent,
        expected: Callable[[Produced, Losses], Produced] = lambda produced, _: produced,
    ) -> Outcome:
        """The end of every scenario: let the agent finish the clip and drain its outbox, let the
        cloud settle (every crop with its vector, the device's goodbye applied), then check
        that every crop, event and track summary the agent made is stored exactly once
        (`expected` says which should be, given what it made and the losses it counted), that
        every track got one final summary, and that its heartbeat reported the losses it
        counted."""
        summary = agent.wait()
        produced = agent.produced()
        losses = Losses.counted_in(agent.outbox)
        stored_ones = expected(produced, losses)
        stored = self.stores.settle(crops=len(stored_ones.crops), session=agent.sessions()[-1])
        assert_exactly_once(stored_ones, stored)
        assert_every_track_ended_once(produced)
        heartbeat = self.stores.heartbeat()
        assert heartbeat is not None
        assert heartbeat.losses == losses
        return Outcome(summary, produced, stored, heartbeat, losses)

    def close(self) -> None:
        """Kill agents left running, stop the cloud's processes."""
        for agent in self.agents:
            agent.close()
        self.cloud.close()
