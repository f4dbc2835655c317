"""Enrolment and revocation as deployed: the web app (`python -m cloud runserver`), the gRPC
ingest server and the admin commands as real processes on PostgreSQL, with broker accounts
made through the real Mosquitto's dynamic security.

A fleet of devices enrols through ``POST /api/v1/enrol`` at once; each then logs in to the
broker and uploads over gRPC with what it got. One is revoked with ``devices revoke`` while it
is connected to both: the broker drops it and refuses it, the ingest server ends its open
stream and refuses new ones, and the others go on. A broker that cannot be reached fails an
enrolment cleanly: nothing is made and the token stays good.
"""

from __future__ import annotations

import json
import queue
import secrets
import socket
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from cloud.fleet.broker import MosquittoAccounts
from cloud.ingest.auth import REAUTHENTICATE_S
from sightline.ingest.v1 import ingest_pb2
from tests.cloud.ingest.processes import Background, cloud_command, cloud_env, run_cloud
from tests.cloud.ingest.uploads import Ingest, event_request
from tests.integration.mqtt_session import BrokerSession
from tests.services.contract import MqttAccount, MqttBroker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLEET = 200
WORKERS = 16
ENROL_BUDGET_S = 60.0
STORED = ingest_pb2.ACK_STATUS_STORED
NOT_AUTHORIZED = 0x87

# Run by `python -m cloud shell -c` after "site, prefix, count = ..." (one process for all).
MAKE_ENROLMENTS = textwrap.dedent(
    """
    import json
    from cloud.fleet.enrolment import create_enrolment

    print(json.dumps([
        create_enrolment(
            site=site, hardware_profile="jetson-orin", device_id=f"{prefix}-{n:03}", tags=["load"]
        ).token
        for n in range(count)
    ]))
    """
)


def broker_admin_variables(broker: MqttBroker, *, port: int | None = None) -> dict[str, str]:
    """Cloud settings that let the web app and the commands make broker accounts."""
    return {
        "SIGHTLINE_CLOUD_MQTT_HOST": broker.host,
        "SIGHTLINE_CLOUD_MQTT_PORT": str(port or broker.port),
        "SIGHTLINE_CLOUD_MQTT_ADMIN_USERNAME": broker.admin.username,
        "SIGHTLINE_CLOUD_MQTT_ADMIN_PASSWORD": broker.admin.password,
        "SIGHTLINE_CLOUD_MQTT_TOPIC_PREFIX": broker.topic_prefix,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def env(storage_env: dict[str, str], mqtt_broker: MqttBroker, mqtt_site: str) -> dict[str, str]:
    """The cloud's environment, migrated, with this test's site registered."""
    env = cloud_env(
        {
            **storage_env,
            **broker_admin_variables(mqtt_broker),
            "SIGHTLINE_CLOUD_ALLOWED_HOSTS": "127.0.0.1",
            # runserver's banner goes to stdout, which is a file here.
            "PYTHONUNBUFFERED": "1",
        }
    )
    run_cloud(env, "sites", "add", mqtt_site)
    return env


def serve(env: dict[str, str], log: Path) -> tuple[Background, str]:
    """The web app on a free loopback port, and its base URL."""
    port = free_port()
    # runserver serves each request on a new thread: a connection kept for reuse would stay
    # open, unused, after its thread ended, so each request closes its own.
    env = {**env, "SIGHTLINE_CLOUD_DATABASE_CONN_MAX_AGE": "0"}
    process = Background(cloud_command("runserver", "--noreload", f"127.0.0.1:{port}"), env, log)
    process.wait_for(r"Quit the server with")
    return process, f"http://127.0.0.1:{port}"


@pytest.fixture
def web(env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    process, url = serve(env, tmp_path / "web.log")
    yield url
    process.stop()


@pytest.fixture
def prefix(mqtt_accounts: MosquittoAccounts) -> Iterator[str]:
    """A device-id prefix of this test's own; every broker account under it is deleted after."""
    prefix = f"enr-{secrets.token_hex(4)}"
    yield prefix
    for n in range(FLEET):
        mqtt_accounts.delete(f"{prefix}-{n:03}")


def make_enrolments(env: dict[str, str], site: str, prefix: str, count: int) -> list[str]:
    script = f"site, prefix, count = {site!r}, {prefix!r}, {count}\n{MAKE_ENROLMENTS}"
    tokens: list[str] = json.loads(run_cloud(env, "shell", "--no-imports", "-c", script))
    return tokens


def post_enrol(url: str, body: dict[str, str], **headers: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/api/v1/enrol",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def status_topic(broker: MqttBroker, site: str, device_id: str) -> str:
    return f"{broker.topic_prefix}/v1/{site}/{device_id}/status"


def test_a_fleet_enrols_connects_uploads_and_one_device_is_revoked_at_once(
    env: dict[str, str],
    web: str,
    prefix: str,
    mqtt_broker: MqttBroker,
    mqtt_site: str,
    edge: Ingest,
) -> None:
    tokens = make_enrolments(env, mqtt_site, prefix, FLEET)

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        answers = list(pool.map(lambda token: post_enrol(web, {"token": token}), tokens))
    enrol_s = time.monotonic() - started
    print(f"enrolled {FLEET} devices over HTTP in {enrol_s:.1f} s ({WORKERS} at a time)")
    assert [status for status, _ in answers] == [201] * FLEET, answers[:3]
    assert enrol_s < ENROL_BUDGET_S
    devices = [body for _, body in answers]
    assert sorted(d["device_id"] for d in devices) == [f"{prefix}-{n:03}" for n in range(FLEET)]

    # A spent token is refused, and so is a wrong one.
    assert post_enrol(web, {"token": tokens[0]})[0] == 410
    assert post_enrol(web, {}, Authorization="Bearer wrong")[0] == 401

    def connects(device: dict[str, Any]) -> bool:
        account = MqttAccount(device["mqtt"]["username"], device["mqtt"]["password"])
        with BrokerSession(mqtt_broker, account) as session:
            topic = status_topic(mqtt_broker, mqtt_site, device["device_id"])
            return not session.publish(topic, b"online").is_failure

    def uploads(device: dict[str, Any], seq: int = 1) -> bool:
        request = event_request(seq, device_id=device["device_id"])
        (ack,) = edge.upload_records([request], device["ingest"]["token"])
        return ack.status == STORED

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        assert all(pool.map(connects, devices))
        assert all(pool.map(uploads, devices))
    took_s = time.monotonic() - started
    print(f"{FLEET} devices logged in to the broker and uploaded in {took_s:.1f} s")

    listed = json.loads(run_cloud(env, "devices", "list", "--site", mqtt_site, "--json"))
    assert len(listed) == FLEET
    assert all(
        row["tags"] == ["load"] and row["hardware_profile"] == "jetson-orin" for row in listed
    )

    # Revoke one while it holds a broker session and an open upload stream.
    victim, bystander = devices[0], devices[1]
    shown = json.loads(run_cloud(env, "devices", "show", victim["device_id"], "--json"))
    assert shown["credentials"]["active_tokens"] == 1
    assert shown["credentials"]["broker_account"] is True
    account = MqttAccount(victim["mqtt"]["username"], victim["mqtt"]["password"])
    metadata = (("authorization", f"Bearer {victim['ingest']['token']}"),)
    requests: queue.Queue[Any] = queue.Queue()
    call = edge.stub.UploadRecords(iter(requests.get, None), timeout=30, metadata=metadata)
    acks = iter(call)
    requests.put(event_request(2, device_id=victim["device_id"]))
    assert next(acks).status == STORED
    with BrokerSession(mqtt_broker, account) as session:
        started = time.monotonic()
        printed = json.loads(run_cloud(env, "devices", "revoke", victim["device_id"], "--json"))
        revoked_at = time.monotonic()
        assert printed == {
            "device_id": victim["device_id"],
            "tokens_revoked": 1,
            "broker_account_deleted": True,
        }
        # Dropped while the command ran: the broker acts on deleteClient before answering it.
        assert session.disconnected.wait(0.5)
    with pytest.raises(grpc.RpcError) as ended:
        next(acks)
    assert ended.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAUTHENTICATED)
    ended_s = time.monotonic() - revoked_at
    requests.put(None)
    print(
        f"revoke command took {revoked_at - started:.2f} s (a process start); off the broker "
        f"before it returned; idle upload stream ended {ended_s:.2f} s after it returned"
    )
    # One re-check interval of the ingest server, with room for a loaded machine.
    assert ended_s < 3 * REAUTHENTICATE_S

    again = BrokerSession(mqtt_broker, account)
    try:
        assert again.connect().value == NOT_AUTHORIZED
    finally:
        again.close()
    with pytest.raises(grpc.RpcError) as refused:
        edge.upload_records(
            [event_request(3, device_id=victim["device_id"])], victim["ingest"]["token"]
        )
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The others are untouched.
    assert connects(bystander)
    assert uploads(bystander, seq=2)
    shown = json.loads(run_cloud(env, "devices", "show", victim["device_id"], "--json"))
    assert shown["credentials"] == {
        "active_tokens": 0,
        "revoked_tokens": 1,
        "broker_account": False,
        "broker_error": "",
    }


def test_racing_exchanges_of_one_token_make_one_device(
    env: dict[str, str], web: str, prefix: str, mqtt_site: str
) -> None:
    (token,) = make_enrolments(env, mqtt_site, prefix, 1)
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: post_enrol(web, {"token": token})[0], range(8)))
    assert statuses == [201] + [410] * 7
    shown = json.loads(run_cloud(env, "devices", "show", f"{prefix}-000", "--json"))
    assert shown["credentials"]["active_tokens"] == 1


def test_a_broker_that_is_down_fails_enrolment_cleanly(
    env: dict[str, str],
    web: str,
    prefix: str,
    mqtt_broker: MqttBroker,
    mqtt_site: str,
    tmp_path: Path,
) -> None:
    (token,) = make_enrolments(env, mqtt_site, prefix, 1)
    # The same deployment, but its broker is unreachable: nothing listens on this port.
    down_env = {**env, **broker_admin_variables(mqtt_broker, port=free_port())}
    process, down = serve(down_env, tmp_path / "web-down.log")
    try:
        status, body = post_enrol(down, {"token": token})
    finally:
        process.stop()
    assert status == 503
    assert "cannot reach the broker" in body["error"]
    assert json.loads(run_cloud(env, "devices", "list", "--json")) == []
    # The token was not spent: it works once the broker answers.
    status, body = post_enrol(web, {"token": token})
    assert status == 201
    account = MqttAccount(body["mqtt"]["username"], body["mqtt"]["password"])
    with BrokerSession(mqtt_broker, account) as session:
        topic = status_topic(mqtt_broker, mqtt_site, body["device_id"])
        assert not session.publish(topic, b"online").is_failure
