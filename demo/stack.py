"""The pieces of the zero-setup demo stack: environment, processes, in-process broker, waits.

`python -m demo` (`demo/__main__.py`) puts them together; the end-to-end benchmark
(`tests/bench/bench_e2e.py`) reuses them to time the same stack. The stack runs the same
processes as a deployment, each on its embedded default:

- an MQTT broker inside this process (amqtt, MQTT 3.1.1, loopback only);
- ``python -m cloud ingest_grpc``: crops over gRPC into a local object directory and SQLite;
- ``python -m cloud mqtt_bridge``: device status, events and track summaries into SQLite;
- a Celery ``embed`` worker on kombu's filesystem broker, writing the embedded vector store,
  and Celery beat, which queues the sweeps (crops left without a vector, orphaned objects);
- ``python -m edge run``: the edge agent on the video (``vtest.avi`` unless ``--video``);
- then ``python -m cloud runserver`` serves the web app on 127.0.0.1 until Ctrl-C.

Everything lives under one data directory (`prepare_data_dir`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cloud.embeddings.spec import CROP_MODEL_NAME

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
DEVICE_ID = "demo-box"
SITE = "demo"
CAMERA_ID = "vtest"
DEMO_USER = "demo"
# The detector (edge, and uploads searched by example), the crop embedder, the face models of the
# embed worker's default `faces` analyser and the sentence model of text search.
MODELS = ("nanodet-g", CROP_MODEL_NAME, "yunet", "sface", "minilm-l6")


class DemoError(Exception):
    """A step of the demo failed; the message says which and what to do."""


@dataclass(frozen=True)
class Ports:
    mqtt: int
    ingest: int
    web: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cache_dir() -> Path:
    return Path(os.environ.get("SIGHTLINE_CACHE_DIR") or Path.home() / ".cache" / "sightline")


def cloud_environment(data: Path, ports: Ports) -> dict[str, str]:
    """The SIGHTLINE_CLOUD_* settings of every cloud process: all embedded defaults."""
    secret_file = data / "secret_key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(48), encoding="utf-8")
        secret_file.chmod(0o600)
    return {
        "DJANGO_SETTINGS_MODULE": "cloud.settings",
        "SIGHTLINE_CLOUD_SECRET_KEY_FILE": str(secret_file),
        "SIGHTLINE_CLOUD_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SIGHTLINE_CLOUD_DATA_DIR": str(data),
        "SIGHTLINE_CLOUD_DATABASE_URL": f"sqlite:///{data / 'cloud.sqlite3'}",
        "SIGHTLINE_CLOUD_OBJECT_STORE": "local",
        "SIGHTLINE_CLOUD_OBJECT_STORE_ROOT": str(data / "objects"),
        "SIGHTLINE_CLOUD_VECTOR_STORE": "embedded",
        "SIGHTLINE_CLOUD_VECTOR_STORE_PATH": str(data / "vectors.sqlite3"),
        "SIGHTLINE_CLOUD_CELERY_BROKER_URL": "filesystem://",
        "SIGHTLINE_CLOUD_CELERY_FILESYSTEM_DIR": str(data / "celery"),
        "SIGHTLINE_CLOUD_INGEST_ADDRESS": f"127.0.0.1:{ports.ingest}",
        "SIGHTLINE_CLOUD_MQTT_HOST": "127.0.0.1",
        "SIGHTLINE_CLOUD_MQTT_PORT": str(ports.mqtt),
        "SIGHTLINE_CLOUD_MQTT_PROTOCOL": "mqttv311",
    }


def prepare_data_dir(data: Path, *, keep: bool) -> None:
    """Wipe `data` (unless `keep`) and create the folders the cloud processes expect."""
    if data.exists() and not keep:
        shutil.rmtree(data)
    for sub in ("logs", "celery", "objects"):
        (data / sub).mkdir(parents=True, exist_ok=True)


def adopt_environment(data: Path, ports: Ports) -> dict[str, str]:
    """Make this process's environment the demo's, and return it for the child processes.

    The demo owns every cloud setting: stray SIGHTLINE_CLOUD_* variables (a shell set up for a
    real deployment, say) would mix servers into the embedded defaults. This process reads the
    cloud database too (to follow progress), so it takes the same settings.
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_CLOUD_")}
    env = {**inherited, **cloud_environment(data, ports)}
    os.environ.clear()
    os.environ.update(env)
    return env


def quiet_broker_logs() -> None:
    """The in-process broker logs every state change of every session at INFO."""
    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def edge_config(data: Path, video: Path, ports: Ports) -> dict[str, Any]:
    """The edge agent's YAML config; its ingest token comes from the environment, not the file."""
    return {
        "device": {"id": DEVICE_ID, "site": SITE, "hardware_profile": "x86-cpu"},
        "detector": {
            "type": "ort",
            "model": {"manifest": str(REPO / "models" / "nanodet-g.toml")},
            "intra_op_threads": 2,
        },
        "cameras": [{"id": CAMERA_ID, "source": {"url": str(video), "fps": None}}],
        "delivery": {
            "outbox": {"path": str(data / "edge-outbox.sqlite3")},
            "mqtt": {"host": "127.0.0.1", "port": ports.mqtt, "protocol": "mqttv311"},
            "uplink": {"target": f"127.0.0.1:{ports.ingest}"},
            # A recorded file ends long before a slow uplink drains: wait for every crop.
            "drain_timeout_s": 300.0,
        },
    }


def run_checked(
    command: list[str], env: Mapping[str, str], what: str, *, quiet: bool = True
) -> str:
    """Run a one-shot command; on failure raise DemoError with its output."""
    result = subprocess.run(command, env=dict(env), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DemoError(f"{what} failed ({result.returncode}):\n{result.stderr or result.stdout}")
    if not quiet:
        sys.stderr.write(result.stderr)
    return result.stdout


class InProcessBroker:
    """amqtt on 127.0.0.1 in a thread: anonymous access, which is safe only on loopback."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt-broker", daemon=True)

    def _run(self) -> None:
        from amqtt.broker import Broker

        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
        broker = Broker(config, loop=self._loop)
        self._loop.run_until_complete(broker.start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise DemoError("the in-process MQTT broker did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)


class Services:
    """Long-running child processes, stopped in reverse order (SIGTERM, then SIGKILL)."""

    def __init__(self, env: Mapping[str, str], logs: Path) -> None:
        self._env = dict(env)
        self._logs = logs
        self._children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self._logs / f"{name}.log").open("wb")
        child = subprocess.Popen(command, env=self._env, stdout=log, stderr=subprocess.STDOUT)
        self._children.append((name, child))
        return child

    def check_alive(self) -> None:
        for name, child in self._children:
            if child.poll() is not None:
                log = self._logs / f"{name}.log"
                raise DemoError(f"{name} exited with {child.returncode}; see {log}")

    def stop(self) -> None:
        for _name, child in reversed(self._children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for _name, child in reversed(self._children):
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()


def wait_for_ingest(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            with contextlib.suppress(grpc.RpcError):
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            time.sleep(0.5)
    raise DemoError(f"the ingest server did not answer on 127.0.0.1:{port}")


def wait_for_web(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply,
        ):
            if reply.status == 200:
                return
        time.sleep(0.3)
    raise DemoError(f"the web app did not answer on 127.0.0.1:{port}")


def prepare_cloud(python: list[str], env: Mapping[str, str], data: Path) -> tuple[str, str]:
    """Migrate, provision the demo device, issue its token and create the login; return both."""
    run_checked([*python, "-m", "cloud", "migrate", "--no-input"], env, "database migration")
    run_checked(
        [
            *python,
            "-m",
            "cloud",
            "provision_device",
            DEVICE_ID,
            "--hardware",
            "x86-cpu",
            "--site",
            SITE,
            "--name",
            "Demo box",
        ],
        env,
        "device provisioning",
    )
    token = run_checked(
        [*python, "-m", "cloud", "device_token", DEVICE_ID], env, "ingest token"
    ).strip()
    password_file = data / "login-password"
    password = secrets.token_urlsafe(12)
    password_file.write_text(password, encoding="utf-8")
    password_file.chmod(0o600)
    run_checked(
        [
            *python,
            "-m",
            "cloud",
            "createsuperuser",
            "--no-input",
            "--username",
            DEMO_USER,
            "--email",
            "demo@localhost",
        ],
        {**env, "DJANGO_SUPERUSER_PASSWORD": password},
        "login creation",
    )
    return token, password


def wait_until_indexed(expected: int, services: Services, timeout_s: float) -> int:
    """Wait until `expected` detections are stored and all of them embedded; return the count."""
    import django

    # Once, not per poll: setup also (re)configures logging.
    django.setup()
    from cloud.detections.models import Detection

    deadline = time.monotonic() + timeout_s
    embedded = 0
    while time.monotonic() < deadline:
        services.check_alive()
        total = Detection.objects.count()
        embedded = Detection.objects.filter(embedded_at__isnull=False).count()
        if total >= expected and embedded >= total:
            return embedded
        time.sleep(1.0)
    raise DemoError(f"only {embedded} of {expected} crops were embedded in {timeout_s:.0f} s")


def celery_worker(python: list[str], queues: str, *options: str) -> list[str]:
    """The argv of a one-process Celery worker of the cloud app consuming `queues`.

    The solo pool keeps one process per worker (the demo and the tests count processes, and the
    embedder's ONNX Runtime threads already use the cores); mingle and gossip only matter
    between several workers.
    """
    return [
        *python,
        "-m",
        "celery",
        "-A",
        "cloud",
        "worker",
        "-Q",
        queues,
        "--pool",
        "solo",
        "--without-mingle",
        "--without-gossip",
        *options,
    ]


def celery_beat(python: list[str], schedule: Path, *options: str) -> list[str]:
    """The argv of Celery beat for the cloud app, which queues the periodic sweeps.

    A process of its own rather than a worker's ``-B``: the embedded beat is a child of the
    worker that a kill -9 of the worker would orphan, and a restarted worker would start a
    second one. `schedule` is beat's state file (when each entry last ran).
    """
    return [*python, "-m", "celery", "-A", "cloud", "beat", "--schedule", str(schedule), *options]


@contextlib.contextmanager
def running_cloud(
    python: list[str], env: Mapping[str, str], data: Path, ports: Ports
) -> Iterator[Services]:
    broker = InProcessBroker(ports.mqtt)
    broker.start()
    services = Services(env, data / "logs")
    try:
        services.start("ingest", [*python, "-m", "cloud", "ingest_grpc"])
        services.start("bridge", [*python, "-m", "cloud", "mqtt_bridge"])
        services.start("worker", celery_worker(python, "embed,default", "--without-heartbeat"))
        services.start("beat", celery_beat(python, data / "celerybeat-schedule"))
        wait_for_ingest(ports.ingest)
        yield services
    finally:
        services.stop()
        broker.stop()
