"""Desired and reported state through `python -m cloud mqtt_bridge` on real Mosquitto and
PostgreSQL: an assignment made by `python -m cloud models assign` reaches the device's own
account as a retained DesiredState, with what the device needs to fetch and verify the model;
what the device reports back is stored and compared (`models status`, `models drift`); a
`report_state` command (`models refresh`) reaches it, not retained."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cloud.fleet.broker import MosquittoAccounts, new_password
from sightline.device.v1 import command_pb2, key_pb2, state_pb2
from tests.cloud.ingest.processes import Background, cloud_command, model_registry_cloud
from tests.cloud.ingest.processes import run_cloud as run
from tests.integration.mqtt_session import BrokerSession
from tests.services.contract import MqttAccount, MqttBroker
from tests.signed_models import manifest_for

pytestmark = pytest.mark.integration

ONNX = b"\x08\x07 stands in for a model: the cloud stores and signs bytes" * 32


@pytest.fixture
def device(mqtt_accounts: MosquittoAccounts, mqtt_site: str) -> Iterator[MqttAccount]:
    """A device account of this test alone: the shared test devices' accounts are remade by
    every test that runs at the same time, each for its own site."""
    account = MqttAccount(f"cam-{secrets.token_hex(6)}", new_password())
    mqtt_accounts.put_device(account.username, mqtt_site, account.password)
    yield account
    mqtt_accounts.delete(account.username)


@pytest.fixture
def env(
    migrated_postgres_database: str,
    mqtt_broker: MqttBroker,
    mqtt_site: str,
    device: MqttAccount,
    tmp_path: Path,
) -> dict[str, str]:
    env = model_registry_cloud(
        migrated_postgres_database, mqtt_broker, mqtt_site, tmp_path / "objects"
    )
    run(env, "provision_device", device.username, "--hardware", "x86-cpu", "--site", mqtt_site)
    key, onnx, manifest = tmp_path / "op.pem", tmp_path / "m.onnx", tmp_path / "m.toml"
    run(env, "models", "keygen", "--out", str(key))
    onnx.write_bytes(ONNX)
    manifest.write_bytes(manifest_for(ONNX, "2"))
    run(
        env, "models", "upload", "--onnx", str(onnx), "--manifest", str(manifest), "--key", str(key)
    )
    return env


def status(env: dict[str, str], device: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(run(env, "models", "status", "--device", device, "--json"))
    return found


def test_an_assignment_reaches_the_device_retained_and_its_report_is_stored(
    env: dict[str, str],
    mqtt_broker: MqttBroker,
    mqtt_site: str,
    device: MqttAccount,
    tmp_path: Path,
) -> None:
    account, device_id = device, device.username
    base = f"{mqtt_broker.topic_prefix}/v1/{mqtt_site}/{device_id}"
    bridge = Background(cloud_command("mqtt_bridge"), env, tmp_path / "bridge.log")
    try:
        bridge.wait_for("connected to the broker")
        run(env, "models", "assign", "nanodet-g", "2", "--device", device_id, "--reason", "canary")
        deadline = time.monotonic() + 20
        while status(env, device_id)["drift"] == "unpublished" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert status(env, device_id)["drift"] == "pending"
        # The device was offline when it was published: it gets it when it subscribes.
        with BrokerSession(mqtt_broker, account) as session:
            assert not session.subscribe(f"{base}/desired").is_failure
            desired = state_pb2.DesiredState.FromString(bytes(session.next_message().payload))
            assert desired.generation == 1
            (camera,) = desired.cameras
            assert (camera.model.name, camera.model.version, camera.size) == (
                "nanodet-g",
                "2",
                len(ONNX),
            )
            assert camera.url.startswith("https://cloud.example/objects/models/nanodet-g/2/")
            assert len(camera.signature) == 64 and camera.key_id
            report = state_pb2.ReportedState(
                key=key_pb2.MessageKey(device_id=device_id, seq=5),
                generation=1,
                error="artifact sha256 differs from the desired one: tampered; refused",
            )
            report.time.FromDatetime(datetime.now(UTC))
            running = report.cameras.add(camera_id="lobby")
            running.model.name, running.model.version = "nanodet-g", "1"
            assert not session.publish(f"{base}/reported", report.SerializeToString()).is_failure
            # Asked to report now, through a command that only this device's account reads.
            assert not session.subscribe(f"{base}/cmd/+").is_failure
            (request_id,) = json.loads(
                run(env, "models", "refresh", "--device", device_id, "--json")
            ).values()
            message = session.next_message()
            assert message.topic == f"{base}/cmd/report_state"
            assert not message.retain
            command = command_pb2.Command.FromString(bytes(message.payload))
            assert (command.name, command.request_id) == ("report_state", request_id)
        deadline = time.monotonic() + 20
        while status(env, device_id)["reported"] is None and time.monotonic() < deadline:
            time.sleep(0.3)
        found = status(env, device_id)
        assert found["drift"] == "failed"
        assert "tampered" in found["reported"]["error"]
        assert found["reported"]["cameras"] == [
            {"camera_id": "lobby", "name": "nanodet-g", "version": "1"}
        ]
        (drifting,) = json.loads(run(env, "models", "drift", "--json"))
        assert drifting["device"] == device_id
    finally:
        exit_status = bridge.stop()
    assert exit_status == 0, bridge.output()
