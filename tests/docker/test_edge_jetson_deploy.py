"""docker/edge-jetson/sightline-jetson: the operator's Jetson path, run here for real.

The script runs as a subprocess with `--root` pointing into a temporary folder. The cloud is
the real web app (pytest-django's live server) for the whole path, and a small local HTTP
server answering as `cloud.fleet.api.enrol` and `cloud.api.devices` do for refusals and paging;
docker and systemctl are stand-ins on PATH that log their arguments and answer `docker
inspect` from a file. What cannot run here: the image itself (no nvcr.io, no Jetson), systemd
and the NVIDIA runtime.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from cloud.access.models import Role
from cloud.access.tokens import create_token
from cloud.fleet import api, registry
from cloud.fleet.enrolment import create_enrolment
from cloud.fleet.models import DeviceStatus
from cloud.fleet.services import record_device_status
from cloud.ingest.credentials import authenticate_token
from edge import config as edge_config
from tests.cloud.fleet.accounts import MemoryAccounts
from tests.users import make_user

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "docker" / "edge-jetson" / "sightline-jetson"
MANIFEST = REPO / "models" / "nanodet-g.toml"


@dataclass
class FakeCloud:
    """The enrolment and devices endpoints, with what they were sent."""

    enrol_status: int = 201
    devices: list[dict[str, Any]] = field(default_factory=list)
    page_size_seen: list[int] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def credentials(self, device_id: str) -> dict[str, Any]:
        # The body cloud.fleet.api.enrol answers with (status 201).
        return {
            "device_id": device_id or "lobby-1a2b3c4d",
            "site": "lobby",
            "hardware_profile": "jetson-orin",
            "ingest": {"token": "ingest-secret"},
            "mqtt": {
                "username": device_id or "lobby-1a2b3c4d",
                "client_id": device_id or "lobby-1a2b3c4d",
                "password": "p'w",
            },
        }


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    fake = FakeCloud()

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            fake.requests.append((self.path, dict(self.headers), body))
            if fake.enrol_status != 201:
                self._send(fake.enrol_status, {"error": "refused"})
                return
            asked = json.loads(body).get("device_id", "")
            self._send(201, fake.credentials(asked))

        def do_GET(self) -> None:
            fake.requests.append((self.path, dict(self.headers), b""))
            if self.headers.get("Authorization") != "Bearer slt_operator":
                self._send(401, {"detail": "Unauthorized"})
                return
            query = parse_qs(urlparse(self.path).query)
            page, size = int(query["page"][0]), int(query["page_size"][0])
            fake.page_size_seen.append(size)
            # Two devices a page, whatever was asked, so that paging is exercised.
            items = fake.devices[(page - 1) * 2 : page * 2]
            has_next = len(fake.devices) > page * 2
            self._send(200, {"items": items, "page": page, "has_next": has_next})

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@dataclass
class Host:
    """A staging root plus stand-in docker and systemctl that log each call."""

    root: Path
    bin: Path
    log: Path
    inspect: Path
    missing: Path
    """Images `docker image inspect` does not find, one a line."""
    pull_fails: Path
    """While it exists, `docker pull` fails."""

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "SIGHTLINE_JETSON_POLL_S": "0.1",
        }

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")


@pytest.fixture
def host(tmp_path: Path) -> Host:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    inspect = tmp_path / "inspect.txt"
    missing, pull_fails = tmp_path / "missing.txt", tmp_path / "pull-fails"
    for name in ("docker", "systemctl"):
        stub = bin_dir / name
        # `docker inspect` answers with the state in inspect.txt, as its --format would print it.
        stub.write_text(
            "#!/usr/bin/env bash\n"
            f'echo "{name} $*" >> {log}\n'
            f"if [[ $1 == inspect ]]; then cat {inspect}; fi\n"
            f'if [[ $1 == image ]] && grep -qxF "${{*: -1}}" {missing} 2>/dev/null; then\n'
            "exit 1; fi\n"
            f"if [[ $1 == pull && -e {pull_fails} ]]; then exit 1; fi\n"
        )
        stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return Host(tmp_path / "root", bin_dir, log, inspect, missing, pull_fails)


def jetson(host: Host, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "--root", str(host.root), *args],
        capture_output=True,
        text=True,
        env=host.env(),
        input=stdin,
        timeout=60,
        check=False,
    )


def enrol(host: Host, cloud: FakeCloud, *extra: str) -> subprocess.CompletedProcess[str]:
    return jetson(
        host,
        "enrol",
        "--cloud", f"{cloud.url}/",
        "--token", "one-time-token",
        "--mqtt", "broker.example:8883",
        "--ingest", "ingest.example:443",
        "--camera", "gate=usb:0",
        "--camera", "yard=rtsp://user:p'ss@10.0.0.5/stream",
        "--detector", "ort",
        "--model-manifest", str(MANIFEST),
        *extra,
    )  # fmt: skip


def test_it_prints_usage_and_refuses_unknown_commands(host: Host) -> None:
    helped = jetson(host, "--help")
    assert helped.returncode == 0
    assert "sightline-jetson enrol --cloud URL" in helped.stdout
    # The whole header, to its last line, and nothing of the code below it.
    assert helped.stdout.endswith("Exit status: 0 done, 1 failed, 2 usage.\n")
    assert jetson(host).returncode == 2
    unknown = jetson(host, "fly")
    assert unknown.returncode == 2
    assert "unknown command 'fly'" in unknown.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--token", "t", "--mqtt", "m", "--ingest", "i:1", "--camera", "a=usb:0"], "--cloud URL"),
        (["--cloud", "ftp://x", "--token", "t"], "http(s):// URL"),
        (["--cloud", "http://x", "--token", "t", "--mqtt", "m", "--ingest", "i"], "HOST:PORT"),
        (
            ["--cloud", "http://x", "--token", "t", "--mqtt", "m", "--ingest", "i:1"],
            "at least one --camera",
        ),
        (
            ["--cloud", "http://x", "--token", "t", "--mqtt", "m", "--ingest", "i:1",
             "--camera", "no-url"],
            "is not ID=URL",
        ),
        (
            ["--cloud", "http://x", "--token", "t", "--mqtt", "m", "--ingest", "i:1",
             "--camera", "a b=usb:0"],
            "--camera id 'a b'",
        ),
        (
            ["--cloud", "http://x", "--token", "t", "--mqtt", "m", "--ingest", "i:1",
             "--camera", "a=usb:0", "--device-id", "-bad"],
            "--device-id '-bad'",
        ),
        (["--cloud"], "--cloud needs a value"),
    ],
)  # fmt: skip
def test_enrol_refuses_bad_arguments_before_calling_the_cloud(
    host: Host, args: list[str], message: str
) -> None:
    result = jetson(host, "enrol", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not host.root.exists()


def test_enrol_spends_the_token_and_writes_a_config_the_agent_loads(
    host: Host, cloud: FakeCloud
) -> None:
    result = enrol(host, cloud, "--device-id", "gate-1")

    assert result.returncode == 0, result.stderr
    assert "enrolled as gate-1 at site lobby" in result.stdout
    path, headers, body = cloud.requests[0]
    assert path == "/api/v1/enrol"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"token": "one-time-token", "device_id": "gate-1"}

    secrets = host.file("/etc/sightline/secrets")
    assert (secrets / "ingest-token").read_text() == "ingest-secret"
    assert (secrets / "mqtt-password").read_text() == "p'w"
    assert stat.S_IMODE((secrets / "mqtt-password").stat().st_mode) == 0o440
    edge_env = host.file("/etc/sightline/edge.env").read_text()
    assert "p'w" not in host.file("/etc/sightline/edge.yaml").read_text()

    # The container sees /etc/sightline; here the files are under the staging root.
    environ = {}
    for line in edge_env.splitlines():
        key, value = line.split("=", 1)
        environ[key] = str(host.file(value)) if value.startswith("/etc/") else value
    loaded = edge_config.load(host.file("/etc/sightline/edge.yaml"), environ)

    assert (loaded.device.id, loaded.device.site) == ("gate-1", "lobby")
    assert loaded.device.hardware_profile == "jetson-orin"
    assert [(c.id, c.source.url) for c in loaded.cameras] == [
        ("gate", "usb:0"),
        ("yard", "rtsp://user:p'ss@10.0.0.5/stream"),
    ]
    delivery = loaded.delivery
    assert delivery is not None and delivery.mqtt is not None and delivery.uplink is not None
    assert (delivery.mqtt.host, delivery.mqtt.port) == ("broker.example", 8883)
    assert delivery.mqtt.username == "gate-1"
    assert delivery.mqtt.password is not None
    assert delivery.mqtt.password.get_secret_value() == "p'w"
    assert delivery.uplink.target == "ingest.example:443"
    assert delivery.uplink.token.get_secret_value() == "ingest-secret"
    assert delivery.outbox.path == Path("/var/lib/sightline/outbox.sqlite")
    assert loaded.deploy.models_dir == Path("/var/lib/sightline/models")
    # The unit passes the image it runs; the agent hands the cloud's wish to the path unit.
    environ["SIGHTLINE_EDGE_DEPLOY__AGENT_UPGRADE__IMAGE"] = "sightline-edge-jetson:0.1.0"
    upgrade = edge_config.load(host.file("/etc/sightline/edge.yaml"), environ).deploy.agent_upgrade
    assert upgrade is not None and upgrade.image == "sightline-edge-jetson:0.1.0"
    assert upgrade.desired_file == Path("/var/lib/sightline/agent-desired")
    assert upgrade.result_file == Path("/var/lib/sightline/upgrade.json")


def test_enrol_lets_the_cloud_choose_the_id_and_writes_the_trt_detector_by_default(
    host: Host, cloud: FakeCloud
) -> None:
    result = jetson(
        host,
        "enrol",
        "--cloud", cloud.url,
        "--token", "t",
        "--mqtt", "broker.example",
        "--ingest", "ingest.example:443",
        "--camera", "gate=usb:1",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(cloud.requests[0][2]) == {"token": "t"}
    config = host.file("/etc/sightline/edge.yaml").read_text()
    assert "  id: lobby-1a2b3c4d\n" in config
    assert "  type: trt\n" in config
    assert "port:" not in config  # the agent's default: 8883 with TLS


def test_enrol_refuses_to_enrol_twice(host: Host, cloud: FakeCloud) -> None:
    assert enrol(host, cloud, "--device-id", "gate-1").returncode == 0
    again = enrol(host, cloud, "--device-id", "gate-2")
    assert again.returncode == 1
    assert "already enrolled" in again.stderr
    assert len(cloud.requests) == 1


@pytest.mark.parametrize(
    ("status", "message"),
    [(401, "does not know this token"), (410, "used or expired"), (503, "try again")],
)
def test_enrol_says_why_the_cloud_refused_and_writes_nothing(
    host: Host, cloud: FakeCloud, status: int, message: str
) -> None:
    cloud.enrol_status = status
    result = enrol(host, cloud)
    assert result.returncode == 1
    assert message in result.stderr
    assert not host.file("/etc/sightline").exists()


def test_start_writes_the_unit_for_the_nvidia_runtime_and_cameras(
    host: Host, cloud: FakeCloud
) -> None:
    assert enrol(host, cloud, "--device-id", "gate-1").returncode == 0

    result = jetson(host, "start", "--image", "sightline-edge-jetson:0.1.0")

    assert result.returncode == 0, result.stderr
    unit = host.file("/etc/systemd/system/sightline-edge.service").read_text()
    assert "EnvironmentFile=/etc/sightline/agent.env\n" in unit
    assert "--runtime nvidia" in unit
    assert "--env-file /etc/sightline/edge.env" in unit
    assert "--volume /etc/sightline:/etc/sightline:ro" in unit
    assert "--volume /var/lib/sightline:/var/lib/sightline " in unit
    assert " --device /dev/video0" in unit
    assert "/dev/video1" not in unit
    assert "${SIGHTLINE_IMAGE}\n" in unit
    assert "--env SIGHTLINE_EDGE_DEPLOY__AGENT_UPGRADE__IMAGE=${SIGHTLINE_IMAGE} " in unit
    assert "Restart=always\n" in unit
    assert "WantedBy=multi-user.target" in unit
    agent_env = host.file("/etc/sightline/agent.env").read_text()
    assert agent_env == "SIGHTLINE_IMAGE=sightline-edge-jetson:0.1.0\nSIGHTLINE_PREVIOUS_IMAGE=\n"
    assert host.calls() == [
        "systemctl daemon-reload",
        "systemctl enable --now sightline-edge.service",
        "systemctl enable --now sightline-agent-upgrade.path",
    ]
    path_unit = host.file("/etc/systemd/system/sightline-agent-upgrade.path").read_text()
    assert "PathChanged=/var/lib/sightline/agent-desired\n" in path_unit
    assert "Unit=sightline-agent-upgrade.service\n" in path_unit
    service = host.file("/etc/systemd/system/sightline-agent-upgrade.service").read_text()
    assert "Type=oneshot\n" in service
    assert (
        "ExecStart=/usr/local/sbin/sightline-jetson upgrade --desired-file "
        "/var/lib/sightline/agent-desired\n"
    ) in service
    installed = host.file("/usr/local/sbin/sightline-jetson")
    assert installed.read_bytes() == SCRIPT.read_bytes()
    assert installed.stat().st_mode & stat.S_IXUSR


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit(host: Host, cloud: FakeCloud) -> None:
    assert enrol(host, cloud, "--device-id", "gate-1").returncode == 0
    assert jetson(host, "start", "--image", "edge:0.1.0").returncode == 0
    # systemd-analyze resolves the unit's dependencies and executables under --root: the
    # system's own units, and stand-ins for docker and its unit.
    units = host.file("/usr/lib/systemd/system")
    shutil.copytree("/usr/lib/systemd/system", units, symlinks=True)
    (units / "docker.service").write_text("[Service]\nExecStart=/usr/bin/docker\n")
    host.file("/usr/bin").mkdir(parents=True)
    shutil.copy(host.bin / "docker", host.file("/usr/bin/docker"))

    units_written = host.file("/etc/systemd/system")
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={host.root}",
         *(str(units_written / name) for name in (
             "sightline-edge.service", "sightline-agent-upgrade.path",
             "sightline-agent-upgrade.service"))],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip

    assert (result.returncode, result.stderr) == (0, "")


def test_start_needs_an_enrolled_device(host: Host) -> None:
    result = jetson(host, "start", "--image", "x:1")
    assert result.returncode == 1
    assert "run 'sightline-jetson enrol' first" in result.stderr


def test_dry_run_prints_the_commands_instead_of_running_them(host: Host, cloud: FakeCloud) -> None:
    enrolled = jetson(
        host,
        "--dry-run",
        "enrol",
        "--cloud", cloud.url,
        "--token", "t",
        "--mqtt", "m",
        "--ingest", "i:1",
        "--camera", "a=usb:0",
        "--device-id", "gate-1",
    )  # fmt: skip
    started = jetson(host, "--dry-run", "start", "--image", "img:1")

    assert enrolled.returncode == 0, enrolled.stderr
    assert cloud.requests == []
    assert "+ curl --silent --show-error --request POST" in enrolled.stderr
    assert host.file("/etc/sightline/edge.yaml").exists()
    assert started.returncode == 0, started.stderr
    assert "+ systemctl enable --now sightline-edge.service" in started.stdout
    assert host.calls() == []


def test_image_build_passes_the_pinned_downloads_and_the_agent_version(host: Host) -> None:
    result = jetson(host, "--dry-run", "image", "build")

    assert result.returncode == 0, result.stderr
    command = result.stdout.splitlines()[0]
    assert command.startswith("+ docker build --file ")
    assert "--tag sightline-edge-jetson:0.1.0" in command
    assert "--build-arg AGENT_VERSION=0.1.0" in command
    assert "--build-arg PYDS_SOURCE_URL=https://github.com/NVIDIA-AI-IOT/" in command
    assert "--build-arg TENSORRT_SOURCE_SHA256=" in command


def test_image_load_needs_the_file(host: Host, tmp_path: Path) -> None:
    missing = jetson(host, "image", "load", str(tmp_path / "nope.tar"))
    assert missing.returncode == 1
    tarball = tmp_path / "image.tar"
    tarball.write_bytes(b"")
    assert jetson(host, "image", "load", str(tarball)).returncode == 0
    assert host.calls() == [f"docker load --input {tarball}"]


def device(id_: str, status: str = "online", version: str = "0.1.0") -> dict[str, Any]:
    return {
        "id": id_,
        "name": "",
        "site": "lobby",
        "hardware_profile": "jetson-orin",
        "status": status,
        "agent_version": version,
        "last_seen": "2026-11-27T23:00:00Z",
        "cameras": [],
    }


def test_status_finds_the_device_in_the_fleet_view_with_its_agent_version(
    host: Host, cloud: FakeCloud
) -> None:
    assert enrol(host, cloud, "--device-id", "gate-1").returncode == 0
    cloud.devices = [device("a"), device("b"), device("gate-1")]

    result = jetson(host, "status", "--cloud", cloud.url, "--api-token", "slt_operator",
                    "--expect-version", "0.1.0")  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "gate-1: site=lobby status=online last_seen=2026-11-27T23:00:00Z agent_version=0.1.0"
    )
    assert cloud.page_size_seen == [100, 100]


def test_status_fails_when_the_device_runs_another_version_or_is_missing(
    host: Host, cloud: FakeCloud
) -> None:
    assert enrol(host, cloud, "--device-id", "gate-1").returncode == 0
    cloud.devices = [device("gate-1", version="0.0.9")]
    other = jetson(host, "status", "--cloud", cloud.url, "--api-token", "slt_operator",
                   "--expect-version", "0.1.0")  # fmt: skip
    cloud.devices = []
    missing = jetson(host, "status", "--cloud", cloud.url, "--api-token", "slt_operator")
    refused = jetson(host, "status", "--cloud", cloud.url, "--api-token", "wrong")

    assert other.returncode == 1
    assert "agent_version=0.0.9" in other.stdout
    assert missing.returncode == 1
    assert "gate-1: not in the fleet view yet" in missing.stdout
    assert refused.returncode == 1
    assert "the API token is refused" in refused.stderr


def started(host: Host, cloud: FakeCloud) -> None:
    assert enrol(host, cloud, "--device-id", "gate-1").returncode == 0
    assert jetson(host, "start", "--image", "edge:0.1.0").returncode == 0
    host.log.unlink()


def test_upgrade_switches_the_image_when_the_new_agent_runs_healthy(
    host: Host, cloud: FakeCloud
) -> None:
    started(host, cloud)
    host.inspect.write_text("running 2000-01-01T00:00:00Z healthy\n")

    result = jetson(host, "upgrade", "--image", "edge:0.2.0", "--healthy-after", "0")

    assert result.returncode == 0, result.stderr
    assert "upgrade upgraded: edge:0.1.0 -> edge:0.2.0" in result.stdout
    assert host.file("/etc/sightline/agent.env").read_text() == (
        "SIGHTLINE_IMAGE=edge:0.2.0\nSIGHTLINE_PREVIOUS_IMAGE=edge:0.1.0\n"
    )
    assert host.calls()[1] == "systemctl restart sightline-edge.service"
    report = json.loads(host.file("/var/lib/sightline/upgrade.json").read_text())
    assert report["from"] == "edge:0.1.0"
    assert (report["to"], report["result"]) == ("edge:0.2.0", "upgraded")


def test_upgrade_rolls_back_when_the_new_agent_does_not_run_healthy_in_time(
    host: Host, cloud: FakeCloud
) -> None:
    started(host, cloud)
    host.inspect.write_text("restarting 2000-01-01T00:00:00Z \n")

    result = jetson(host, "upgrade", "--image", "edge:0.2.0", "--healthy-after", "0",
                    "--timeout", "1")  # fmt: skip

    assert result.returncode == 1
    assert "back to edge:0.1.0" in result.stderr
    assert (
        host.file("/etc/sightline/agent.env").read_text().startswith("SIGHTLINE_IMAGE=edge:0.1.0\n")
    )
    assert host.calls().count("systemctl restart sightline-edge.service") == 2
    report = json.loads(host.file("/var/lib/sightline/upgrade.json").read_text())
    assert report["result"] == "rolled-back"


def test_upgrade_treats_an_unhealthy_container_as_failed(host: Host, cloud: FakeCloud) -> None:
    started(host, cloud)
    host.inspect.write_text("running 2000-01-01T00:00:00Z unhealthy\n")
    result = jetson(host, "upgrade", "--image", "edge:0.2.0", "--timeout", "1",
                    "--healthy-after", "0")  # fmt: skip
    assert result.returncode == 1


def test_upgrade_to_the_running_image_changes_nothing(host: Host, cloud: FakeCloud) -> None:
    started(host, cloud)
    result = jetson(host, "upgrade", "--image", "edge:0.1.0")
    assert result.returncode == 0
    assert "upgrade unchanged" in result.stdout
    assert host.calls() == []


@pytest.mark.skipif(
    shutil.which("shellcheck") is None and os.environ.get("CI", "") in ("", "0", "false"),
    reason="shellcheck is not installed (Debian package shellcheck; ./sightline test installs it)",
)
def test_the_scripts_are_shellcheck_clean() -> None:
    scripts = [SCRIPT, REPO / "docker" / "edge-jetson" / "fetch-pinned.sh"]
    result = subprocess.run(
        ["shellcheck", *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


# Against the real cloud: the web app in this process (pytest-django's live server), the broker's
# account API in memory as in the fleet tests.


def test_a_device_enrols_with_the_real_cloud_and_shows_in_its_fleet_view(
    host: Host, transactional_db: None, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = MemoryAccounts()
    monkeypatch.setattr(api, "accounts_from_settings", lambda: accounts)
    registry.save_site("lobby")
    issued = create_enrolment(site="lobby", hardware_profile="jetson-orin", device_id="gate-1")
    _, api_token = create_token(make_user("operator", Role.OPERATOR).pk, "jetson-install")

    enrolled = jetson(
        host,
        "enrol",
        "--cloud", live_server.url,
        "--token", issued.token,
        "--mqtt", "broker.example",
        "--ingest", "ingest.example:443",
        "--camera", "door=usb:0",
    )  # fmt: skip
    before = jetson(host, "status", "--cloud", live_server.url, "--api-token", api_token)
    # What the MQTT bridge does with the agent's birth message (its status carries the version).
    record_device_status(
        "gate-1", status=DeviceStatus.ONLINE, seq=1, ts=timezone.now(), agent_version="0.1.0"
    )
    after = jetson(host, "status", "--cloud", live_server.url, "--api-token", api_token,
                   "--expect-version", "0.1.0")  # fmt: skip

    assert enrolled.returncode == 0, enrolled.stderr
    secrets = host.file("/etc/sightline/secrets")
    assert authenticate_token((secrets / "ingest-token").read_text()) == "gate-1"
    assert accounts.accounts["gate-1"] == ("lobby", (secrets / "mqtt-password").read_text())
    assert before.returncode == 1
    assert "gate-1: site=lobby status=offline" in before.stdout
    assert after.returncode == 0, after.stdout
    assert "status=online" in after.stdout
    assert after.stdout.rstrip().endswith("agent_version=0.1.0")
    spent = enrol(host, FakeCloud(url=live_server.url))
    assert spent.returncode == 1  # already enrolled: the token is not tried twice


def desire(host: Host, image: str) -> str:
    """The agent writes the cloud's desired image where the path unit looks."""
    desired = host.file("/var/lib/sightline/agent-desired")
    desired.write_text(f"{image}\n")
    return str(desired)


def test_the_path_unit_upgrade_switches_to_the_image_the_agent_wrote(
    host: Host, cloud: FakeCloud
) -> None:
    started(host, cloud)
    host.inspect.write_text("running 2000-01-01T00:00:00Z healthy\n")
    desired = desire(host, "registry.example:5000/edge:0.2.0")

    result = jetson(host, "upgrade", "--desired-file", desired, "--healthy-after", "0")

    assert result.returncode == 0, result.stderr
    assert (
        host.file("/etc/sightline/agent.env")
        .read_text()
        .startswith("SIGHTLINE_IMAGE=registry.example:5000/edge:0.2.0\n")
    )
    assert not any(call.startswith("docker pull") for call in host.calls())


def test_the_path_unit_upgrade_pulls_an_absent_image_and_reports_a_failed_pull(
    host: Host, cloud: FakeCloud
) -> None:
    started(host, cloud)
    host.inspect.write_text("running 2000-01-01T00:00:00Z healthy\n")
    host.missing.write_text("edge:0.2.0\nedge:0.3.0\n")
    host.pull_fails.touch()
    failed = jetson(host, "upgrade", "--desired-file", desire(host, "edge:0.3.0"))
    assert failed.returncode == 1
    report = json.loads(host.file("/var/lib/sightline/upgrade.json").read_text())
    assert (report["to"], report["result"]) == ("edge:0.3.0", "failed")
    assert report["detail"] == "cannot pull edge:0.3.0"
    agent_env = host.file("/etc/sightline/agent.env").read_text()
    assert agent_env.startswith("SIGHTLINE_IMAGE=edge:0.1.0\n")

    host.pull_fails.unlink()
    pulled = jetson(host, "upgrade", "--desired-file", desire(host, "edge:0.2.0"),
                    "--healthy-after", "0")  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr
    assert "docker pull edge:0.2.0" in host.calls()


@pytest.mark.parametrize("content", ["", "edge:0.2.0; rm -rf /", "--help"])
def test_the_path_unit_upgrade_takes_only_an_image_reference(
    host: Host, cloud: FakeCloud, content: str
) -> None:
    started(host, cloud)
    result = jetson(host, "upgrade", "--desired-file", desire(host, content))
    assert result.returncode == 1
    assert "does not name an image" in result.stderr
    assert host.calls() == []
