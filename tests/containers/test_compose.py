"""docker/compose.yaml: one network namespace, one published port on 127.0.0.1, the built images."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.containers import images, secrets
from tests.containers.podman import available, environment
from tests.containers.stack import COMPOSE_FILE, SERVICES

CLOUD_PROCESSES = ("web", "ingest", "bridge", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def test_the_services_are_the_cloud_tier(compose: dict[str, Any]) -> None:
    assert tuple(compose["services"]) == SERVICES


def test_every_container_shares_the_network_namespace(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name != "network":
            assert service["network_mode"] == "service:network", name
            assert "ports" not in service, name


def test_only_the_web_port_is_published_and_on_loopback(compose: dict[str, Any]) -> None:
    ports = compose["services"]["network"]["ports"]
    assert ports == ["127.0.0.1:${SIGHTLINE_WEB_PORT:-8000}:8000"]


def test_the_images_are_the_ones_built_here(compose: dict[str, Any]) -> None:
    used = {service["image"] for service in compose["services"].values()}
    assert used == {images.CLOUD.tag, images.SERVICES.tag}


def test_one_process_per_cloud_command(compose: dict[str, Any]) -> None:
    commands = {name: " ".join(compose["services"][name]["command"]) for name in CLOUD_PROCESSES}
    assert commands["web"] == "sightline-migrated gunicorn cloud.static_wsgi:application"
    assert "ingest_grpc" in commands["ingest"]
    assert commands["bridge"] == "sightline-mqtt-bridge"
    assert "worker -Q embed,default" in commands["worker"]
    assert "beat" in commands["beat"]
    assert sum("beat" in command for command in commands.values()) == 1


def test_the_secrets_are_the_ones_written(compose: dict[str, Any]) -> None:
    assert set(compose["secrets"]) == set(secrets.NAMES)


@pytest.mark.skipif(not available(), reason="podman is not installed")
def test_podman_compose_reads_it(tmp_path: Path) -> None:
    compose = Path(sys.executable).with_name("podman-compose")
    env = environment()
    env |= {"SIGHTLINE_SECRETS": str(tmp_path), "SIGHTLINE_MODELS": str(tmp_path)}
    result = subprocess.run(
        [compose, "--file", COMPOSE_FILE, "config"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:8000:8000" in result.stdout


def test_secrets_are_made_once_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    first = secrets.write(folder)
    assert set(first) == set(secrets.NAMES)
    assert f":{first['postgres_password']}@127.0.0.1:5432/sightline" in first["database_url"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert secrets.write(folder) == first
    assert len(set(first.values())) == len(first)
