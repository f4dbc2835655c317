"""The images built and run for real: the cloud tier under podman-compose, an edge container on it.

Makes the local Debian base image, builds the services, cloud and edge-cpu images with podman,
brings docker/compose.yaml up, enrols a device as an operator would (``devices enrol`` in the
web container, then the device's ``POST /api/v1/enrol``), runs the edge container on ten seconds
of vtest.avi in the stack's network namespace, and checks by id that every crop the agent
spooled became searchable through the web container's JSON API. The stack is always torn down,
volumes included. Timings and image sizes go to artifacts/containers.json.

Needs root (rootful podman), podman with the packages `./sightline test` installs, and the
binaries the test services cache (Weaviate, SeaweedFS): run after `tests/services/manage.py up`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from models.cache import cache_root
from tests.containers import base_image, images
from tests.containers import secrets as stack_secrets
from tests.containers.podman import REPO, available, podman
from tests.containers.stack import Stack, request_json
from tests.edge.agent_log import SPOOLED
from tests.footage.clips import clip_path
from tests.services import contract

pytestmark = [pytest.mark.containers, pytest.mark.slow, pytest.mark.timeout(900)]

SITE, DEVICE = "lobby", "cam-1"
ARTIFACT = REPO / "artifacts" / "containers.json"


def _require_podman() -> None:
    missing = []
    if not available():
        missing.append("podman")
    if os.geteuid() != 0:
        missing.append("root (the stack runs under rootful podman)")
    for image in images.IMAGES.values():
        missing += [str(find(cache_root())) for find in image.binaries.values()
                    if not find(cache_root()).is_file()]  # fmt: skip
    if not missing:
        return
    reason = f"the container test needs {', '.join(missing)}"
    if os.environ.get(contract.CI, "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (CI is set, so this is an error)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def measured() -> Iterator[dict[str, object]]:
    figures: dict[str, object] = {}
    yield figures
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(figures, indent=2), encoding="utf-8")


@pytest.fixture(scope="module")
def built(measured: dict[str, object]) -> None:
    _require_podman()
    started = time.monotonic()
    base_image.ensure()
    seconds = {"base": round(time.monotonic() - started, 1)}
    seconds |= {name: round(images.build(image), 1) for name, image in images.IMAGES.items()}
    measured["build_s"] = seconds
    measured["size_mb"] = {
        name: round(images.size_bytes(image.tag) / 1e6) for name, image in images.IMAGES.items()
    }


@pytest.fixture
def stack(built: None, tmp_path: Path, measured: dict[str, object]) -> Iterator[Stack]:
    running = Stack(
        project=f"sightline-test-{secrets.token_hex(3)}",
        web_port=_free_port(),
        secrets_dir=tmp_path / "secrets",
        models_dir=cache_root() / "models",
    )
    stack_secrets.write(running.secrets_dir)
    started = time.monotonic()
    try:
        running.up()
        running.wait_ready(timeout_s=240)
        measured["stack_up_s"] = round(time.monotonic() - started, 1)
        yield running
    except BaseException:
        print(running.logs())
        raise
    finally:
        running.down()


def _edge_config(folder: Path) -> Path:
    config = {
        "device": {"id": DEVICE, "site": SITE, "hardware_profile": "x86-cpu"},
        "detector": {
            "type": "ort",
            "model": {"manifest": "/opt/sightline/app/models/nanodet-g.toml"},
        },
        "cameras": [{"id": "door", "source": {"url": "/clips/clip.avi", "fps": None}}],
        "delivery": {
            "outbox": {"path": "/var/lib/sightline/outbox.sqlite3"},
            "mqtt": {"host": "127.0.0.1", "port": 1883, "username": DEVICE, "heartbeat_s": 1.0},
            "uplink": {"target": "127.0.0.1:50051"},
            "drain_timeout_s": 120.0,
        },
    }
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    path.chmod(0o644)
    return path


def _enrol(stack: Stack) -> dict[str, str]:
    """An operator enrols the device; the device exchanges its token over HTTP."""
    stack.cloud("sites", "add", SITE, "--name", "Lobby")
    enrol = ("devices", "enrol", "--site", SITE, "--hardware", "x86-cpu", "--device-id", DEVICE)
    issued = json.loads(stack.cloud(*enrol, "--json"))
    status, answer = request_json(stack.url("/api/v1/enrol"), {"token": issued["token"]})
    assert status == 201, answer
    return {"ingest": answer["ingest"]["token"], "mqtt": answer["mqtt"]["password"]}


def _api_token(stack: Stack) -> str:
    stack.cloud("users", "create", "e2e-admin", "--role", "admin")
    created = json.loads(stack.cloud("api_tokens", "create", "e2e-admin", "e2e", "--json"))
    return str(created["token"])


def _run_edge(stack: Stack, config: Path, clip: Path, credentials: dict[str, str]) -> str:
    """The edge container on the clip, in the stack's network namespace; its log."""
    result = podman(
        "run", "--rm", "--name", f"{stack.project}_edge",
        "--network", f"container:{stack.container('network')}",
        "--volume", f"{config}:/etc/sightline/edge.yaml:ro",
        "--volume", f"{clip}:/clips/clip.avi:ro",
        "--volume", f"{stack.models_dir}:/var/lib/sightline/cache/models:ro",
        "--env", "SIGHTLINE_EDGE_LOG_LEVEL=DEBUG",
        "--env", f"SIGHTLINE_EDGE_DELIVERY__UPLINK__TOKEN={credentials['ingest']}",
        "--env", f"SIGHTLINE_EDGE_DELIVERY__MQTT__PASSWORD={credentials['mqtt']}",
        images.EDGE_CPU.tag,
        check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["crops_sent"] == summary["crops_queued"] > 0, summary
    return result.stderr


def test_edge_crops_become_searchable_through_the_web_container(
    stack: Stack, tmp_path: Path, measured: dict[str, object]
) -> None:
    # The image's HEALTHCHECK, run on demand: podman 4.3 schedules health checks with systemd
    # timers only, which a machine without systemd as init (CI's containers) does not have.
    podman("healthcheck", "run", stack.container("web"))
    credentials = _enrol(stack)
    token = _api_token(stack)
    clip = tmp_path / "clip.avi"
    shutil.copyfile(clip_path("vtest-10s.avi"), clip)
    clip.chmod(0o644)
    started = time.monotonic()
    log = _run_edge(stack, _edge_config(tmp_path), clip, credentials)
    measured["edge_run_s"] = round(time.monotonic() - started, 1)
    crops = {crop: label for crop, label, _ in SPOOLED.findall(log)}
    assert len(crops) > 0, log[-4000:]

    # By id: each crop the agent spooled is a detection the API knows, with its label, and
    # has been embedded (a similar search by it runs on its vector).
    pending = set(crops)
    deadline = time.monotonic() + 180
    while pending and time.monotonic() < deadline:
        for crop_id in sorted(pending):
            status, answer = request_json(
                stack.url(f"/api/v1/detections/{crop_id}/similar"), token=token
            )
            if status == 200 and answer["embedded"]:
                assert answer["query"]["id"] == crop_id
                assert answer["query"]["label"] == crops[crop_id]
                pending.discard(crop_id)
        time.sleep(1)
    measured["searchable_s"] = round(time.monotonic() - started, 1)
    measured["crops"] = len(crops)
    assert not pending, f"not searchable after 180 s: {sorted(pending)}"
