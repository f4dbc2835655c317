"""Broker accounts made by `cloud.fleet.broker` on the real Mosquitto: identity and confinement.

A device or bridge credential is bound to its client id and to its own topics, so a device that
knows its own password cannot take over another session, publish under another site, write
its own desired state or commands, or forge what the bridge reads. The `mqtt_site` fixture has
made both test devices' accounts for this test's site.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from cloud.fleet.broker import MosquittoAccounts, new_password
from cloud.fleet.services import provision_device
from tests.integration.mqtt_session import BrokerSession
from tests.services.contract import MqttAccount, MqttBroker

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 0x87


@pytest.fixture
def bridge(mqtt_accounts: MosquittoAccounts, mqtt_site: str) -> Iterator[MqttAccount]:
    """A bridge account for this test's site, deleted afterwards."""
    account = MqttAccount(f"bridge-{secrets.token_hex(6)}", new_password())
    mqtt_accounts.put_bridge(account.username, account.password, [mqtt_site])
    yield account
    mqtt_accounts.delete(account.username)


def leaf(broker: MqttBroker, site: str, device: MqttAccount, name: str) -> str:
    return f"{broker.topic_prefix}/v1/{site}/{device.username}/{name}"


def test_a_device_cannot_take_the_bridges_client_id(
    mqtt_broker: MqttBroker, mqtt_site: str, bridge: MqttAccount
) -> None:
    status = leaf(mqtt_broker, mqtt_site, mqtt_broker.device, "status")
    with (
        BrokerSession(mqtt_broker, bridge) as cloud_side,
        BrokerSession(mqtt_broker, mqtt_broker.device) as device,
    ):
        assert cloud_side.subscribe(status, retained=False).value == 1
        impostor = BrokerSession(mqtt_broker, mqtt_broker.device2, bridge.username)
        try:
            assert impostor.connect().value == NOT_AUTHORIZED
        finally:
            impostor.close()
        # The bridge was not kicked off: it still gets what devices publish.
        assert not device.publish(status, b"online").is_failure
        assert cloud_side.next_message().payload == b"online"
        assert not cloud_side.disconnected.is_set()


def test_a_device_cannot_take_another_devices_session(
    mqtt_broker: MqttBroker, mqtt_site: str
) -> None:
    with BrokerSession(mqtt_broker, mqtt_broker.device) as victim:
        impostor = BrokerSession(mqtt_broker, mqtt_broker.device2, mqtt_broker.device.username)
        try:
            assert impostor.connect().value == NOT_AUTHORIZED
        finally:
            impostor.close()
        assert not victim.disconnected.wait(0.5)


@pytest.mark.parametrize(
    "where",
    [
        "another site",
        "its own desired state",
        "its own command",
        "a record topic (records go over gRPC)",
        "another device's status",
        "another device's metrics",
        "the account API",
    ],
)
def test_a_device_publishes_only_its_own_upstream_state_under_its_site(
    mqtt_broker: MqttBroker, mqtt_site: str, where: str
) -> None:
    device = mqtt_broker.device
    forbidden = {
        "another site": leaf(mqtt_broker, f"{mqtt_site}-x", device, "status"),
        "its own desired state": leaf(mqtt_broker, mqtt_site, device, "desired"),
        "its own command": leaf(mqtt_broker, mqtt_site, device, "cmd/reboot"),
        "a record topic (records go over gRPC)": leaf(mqtt_broker, mqtt_site, device, "events"),
        "another device's status": leaf(mqtt_broker, mqtt_site, mqtt_broker.device2, "status"),
        "another device's metrics": leaf(mqtt_broker, mqtt_site, mqtt_broker.device2, "metrics"),
        "the account API": "$CONTROL/dynamic-security/v1",
    }[where]
    with BrokerSession(mqtt_broker, device) as session:
        assert session.publish(forbidden, b"forged").value == NOT_AUTHORIZED
        for name in ("status", "metrics", "reported", "cmd/reboot/result"):
            assert not session.publish(leaf(mqtt_broker, mqtt_site, device, name), b"").is_failure


@pytest.mark.parametrize(
    "what",
    [
        "another device's status",
        "another device's commands",
        "every device of its site",
        "everything",
        "the account API's answers",
    ],
)
def test_a_device_reads_only_its_own_downstream_topics(
    mqtt_broker: MqttBroker, mqtt_site: str, what: str
) -> None:
    other, prefix = mqtt_broker.device2, mqtt_broker.topic_prefix
    topic_filter = {
        "another device's status": leaf(mqtt_broker, mqtt_site, other, "status"),
        "another device's commands": leaf(mqtt_broker, mqtt_site, other, "cmd/+"),
        "every device of its site": f"{prefix}/v1/{mqtt_site}/#",
        "everything": "#",
        "the account API's answers": "$CONTROL/dynamic-security/#",
    }[what]
    with BrokerSession(mqtt_broker, mqtt_broker.device) as session:
        assert session.subscribe(topic_filter, retained=False).value == NOT_AUTHORIZED
        own = leaf(mqtt_broker, mqtt_site, mqtt_broker.device, "cmd/+")
        assert not session.subscribe(own, retained=False).is_failure


def test_a_device_cannot_forge_another_devices_status_with_its_last_will(
    mqtt_broker: MqttBroker, mqtt_site: str
) -> None:
    victim = leaf(mqtt_broker, mqtt_site, mqtt_broker.device2, "status")
    with (
        BrokerSession(mqtt_broker, mqtt_broker.admin, f"{mqtt_site}-observer") as observer,
        BrokerSession(mqtt_broker, mqtt_broker.device2) as owner,
    ):
        assert not observer.subscribe(victim, retained=False).is_failure
        # Mosquitto takes the connection and drops the forbidden will when it would send it.
        impostor = BrokerSession(mqtt_broker, mqtt_broker.device, will=(victim, b"offline"))
        try:
            impostor.connect()
        finally:
            impostor.vanish()
        # Were the will published, it would come before what the owner publishes next.
        assert not owner.publish(victim, b"online").is_failure
        assert observer.next_message().payload == b"online"


def test_the_bridge_reads_its_sites_and_cannot_forge_a_device(
    mqtt_broker: MqttBroker, mqtt_site: str, bridge: MqttAccount
) -> None:
    device_status = leaf(mqtt_broker, mqtt_site, mqtt_broker.device, "status")
    with BrokerSession(mqtt_broker, bridge) as session:
        assert session.subscribe(f"{mqtt_broker.topic_prefix}/v1/{mqtt_site}/+/status").value == 1
        assert session.subscribe(f"{mqtt_broker.topic_prefix}/v1/other-site/+/status").is_failure
        assert session.publish(device_status, b"offline").value == NOT_AUTHORIZED


def test_deleting_an_account_disconnects_it_at_once(
    mqtt_broker: MqttBroker, mqtt_site: str, mqtt_accounts: MosquittoAccounts
) -> None:
    with BrokerSession(mqtt_broker, mqtt_broker.device) as session:
        assert mqtt_accounts.delete(mqtt_broker.device.username)
        assert session.disconnected.wait(5)
    again = BrokerSession(mqtt_broker, mqtt_broker.device)
    try:
        assert again.connect().is_failure
    finally:
        again.close()
    assert not mqtt_accounts.delete(mqtt_broker.device.username)


@pytest.mark.django_db
def test_the_command_makes_a_device_account_for_its_site_and_revokes_it(
    mqtt_broker: MqttBroker, mqtt_site: str, settings: Any
) -> None:
    device = mqtt_broker.device.username
    settings.MQTT_ACCOUNTS = {
        "host": mqtt_broker.host,
        "port": mqtt_broker.port,
        "username": mqtt_broker.admin.username,
        "password": mqtt_broker.admin.password,
        "topic_prefix": mqtt_broker.topic_prefix,
    }
    provision_device(device, hardware_profile="x86-cpu", site=mqtt_site)
    printed = StringIO()
    call_command("mqtt_account", device, stdout=printed)
    account = MqttAccount(device, printed.getvalue().strip())
    with BrokerSession(mqtt_broker, account) as session:
        status = leaf(mqtt_broker, mqtt_site, account, "status")
        assert not session.publish(status, b"online").is_failure
        call_command("mqtt_account", device, "--revoke", stdout=StringIO())
        assert session.disconnected.wait(5)
    with pytest.raises(CommandError, match="not provisioned"):
        call_command("mqtt_account", "ghost-device", stdout=StringIO())


@pytest.mark.parametrize("name", ["desired", "cmd/report_state"])
def test_the_bridge_writes_a_devices_downstream_topics_which_the_device_reads(
    mqtt_broker: MqttBroker, mqtt_site: str, bridge: MqttAccount, name: str
) -> None:
    topic = leaf(mqtt_broker, mqtt_site, mqtt_broker.device, name)
    with (
        BrokerSession(mqtt_broker, bridge) as cloud_side,
        BrokerSession(mqtt_broker, mqtt_broker.device) as device,
    ):
        assert not device.subscribe(topic, retained=False).is_failure
        assert not cloud_side.publish(topic, b"wanted").is_failure
        assert device.next_message().payload == b"wanted"


@pytest.mark.parametrize(
    "where",
    ["another site's desired state", "another site's command", "a device's status"],
)
def test_the_bridge_writes_nothing_else(
    mqtt_broker: MqttBroker, mqtt_site: str, bridge: MqttAccount, where: str
) -> None:
    device = mqtt_broker.device
    forbidden = {
        "another site's desired state": leaf(mqtt_broker, f"{mqtt_site}-x", device, "desired"),
        "another site's command": leaf(mqtt_broker, f"{mqtt_site}-x", device, "cmd/reboot"),
        "a device's status": leaf(mqtt_broker, mqtt_site, device, "status"),
    }[where]
    with BrokerSession(mqtt_broker, bridge) as session:
        assert session.publish(forbidden, b"forged").value == NOT_AUTHORIZED


def test_a_device_cannot_answer_another_devices_command(
    mqtt_broker: MqttBroker, mqtt_site: str
) -> None:
    other = leaf(mqtt_broker, mqtt_site, mqtt_broker.device2, "cmd/report_state/result")
    with BrokerSession(mqtt_broker, mqtt_broker.device) as session:
        assert session.publish(other, b"forged").value == NOT_AUTHORIZED
