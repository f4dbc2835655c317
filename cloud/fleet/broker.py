"""Broker accounts: who may connect to Mosquitto, under which client id, and to which topics.

The broker runs Mosquitto's dynamic-security plugin, so accounts change while it runs: the
cloud sends JSON commands to `$CONTROL/dynamic-security/v1` with its broker-admin login and
reads the answers from `.../response` (https://mosquitto.org/documentation/dynamic-security/).

Each account is bound to one client id, its user name: a login cannot connect under another
client id, so no credential can take over the bridge's or another device's session (the broker
would otherwise let the newer connection kick the older one off and reuse its session). Each
account gets its own role, spelled out topic by topic, because dynamic security (Mosquitto 2.0)
has no `%u` patterns:

- a device writes only its own upstream leaves under its own site (`status`, `metrics`,
  `reported`) and reads only its own downstream topics (`desired`, `cmd/<name>`); it can
  neither publish under another site nor write its own desired state or commands;
- a bridge reads the upstream leaves of every device at its sites, and writes their desired
  state and commands (it is the cloud's one publisher: `cloud.deploy.publisher`) and alerts'
  notifications (`cloud.alerts.publisher`).

Deleting an account disconnects its live session at once, so revocation takes effect
immediately. Publishes are acknowledged (QoS 1) and each command's answer is awaited, so a
refused command is an error here, never a silent no-op.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Sequence
from typing import Any, Final, Literal

import paho.mqtt.client as mqtt
from django.conf import settings
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import Field, SecretStr, ValidationError

from cloud.alerts.topics import alert_topics
from cloud.errors import CloudError
from cloud.lib.mqtt_tls import apply_tls
from sightline.device.v1.topics import (
    DeviceTopics,
    TopicPrefix,
    Upstream,
    downstream_publications,
    upstream_subscriptions,
)
from sightline.names import NAME_RULE, is_name
from sightline.tls import MqttEndpoint

logger = logging.getLogger(__name__)

CONTROL_TOPIC: Final = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC: Final = f"{CONTROL_TOPIC}/response"
# dynsec error text for deleting what does not exist (Mosquitto 2.0 plugin).
_NOT_FOUND: Final = ("Client not found", "Role not found")

AclType = Literal["publishClientSend", "publishClientReceive", "subscribePattern"]


class BrokerAdminSettings(MqttEndpoint):
    """How the cloud reaches the broker's account API (`settings.MQTT_ACCOUNTS`); host, port and
    TLS as `sightline.tls.MqttEndpoint`."""

    username: str = Field(min_length=1, description="A login with the dynamic-security admin role.")
    password: SecretStr = Field(description="Its password.")
    topic_prefix: TopicPrefix = Field(
        default="sightline", description="Root level(s) of every topic, as the edges use."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Longest wait for any answer.")


class BrokerAccountError(CloudError):
    """The broker refused a command, or did not answer in time."""


def _acl(acltype: AclType, topic: str) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "allow": True}


def device_acls(topic_prefix: str, site: str, device_id: str) -> list[dict[str, Any]]:
    """The role of one device: its own upstream leaves under its site, its own downstream."""
    topics = DeviceTopics(prefix=topic_prefix, site=site, device=device_id)
    downstream = topics.downstream_subscriptions
    return [
        *(_acl("publishClientSend", topics.upstream(leaf)) for leaf in Upstream),
        _acl("publishClientSend", f"{topics.base}/cmd/+/result"),
        *(_acl("subscribePattern", topic) for topic in downstream),
        *(_acl("publishClientReceive", topic) for topic in downstream),
    ]


def bridge_acls(topic_prefix: str, sites: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The role of a bridge: read every upstream leaf of every device at `sites` (all when
    empty), write their desired state and commands, and alerts' notifications."""
    filters = upstream_subscriptions(topic_prefix, sites)
    return [
        *(_acl("subscribePattern", topic) for topic in filters),
        *(_acl("publishClientReceive", topic) for topic in filters),
        *(
            _acl("publishClientSend", topic)
            for topic in downstream_publications(topic_prefix, sites)
        ),
        _acl("publishClientSend", alert_topics(topic_prefix)),
    ]


def new_password() -> str:
    """A password for a broker account: 192 random bits, URL-safe text."""
    return secrets.token_urlsafe(24)


class MosquittoAccounts:
    """Creates, replaces and deletes accounts through the dynamic-security API. Each call opens
    one connection; meant for enrolment, revocation and tests, not hot paths."""

    def __init__(self, settings: BrokerAdminSettings) -> None:
        self._settings = settings

    def put_device(self, device_id: str, site: str, password: str) -> None:
        """Create or replace the device's account: bound to client id `device_id`, confined to
        its own topics under `site`. Replacing disconnects a live session of the old one."""
        _check_name(device_id, "device_id")
        _check_name(site, "site")
        self._put(device_id, password, device_acls(self._settings.topic_prefix, site, device_id))
        logger.info("broker account of device %s at site %s is set", device_id, site)

    def put_bridge(self, username: str, password: str, sites: Sequence[str] = ()) -> None:
        """Create or replace a bridge account bound to client id `username`."""
        _check_name(username, "username")
        self._put(username, password, bridge_acls(self._settings.topic_prefix, sites))
        logger.info("broker account of bridge %s is set", username)

    def exists(self, username: str) -> bool:
        """Whether the broker has an account of this name."""
        with _Session(self._settings) as session:
            return session.run({"command": "getClient", "username": username}, missing_ok=True)

    def delete(self, username: str) -> bool:
        """Delete an account and its role; a live session of it is disconnected at once. False
        when there was no such account."""
        with _Session(self._settings) as session:
            return _delete(session, username)

    def _put(self, username: str, password: str, acls: list[dict[str, Any]]) -> None:
        # One role per account, named after it (Mosquitto 2.0 roles cannot say "own user name").
        # Delete-then-create rather than modify: the broker then drops a session that was
        # logged in with the old password or role.
        with _Session(self._settings) as session:
            _delete(session, username)
            session.run({"command": "createRole", "rolename": username, "acls": acls})
            session.run(
                {
                    "command": "createClient",
                    "username": username,
                    "clientid": username,
                    "password": password,
                    "roles": [{"rolename": username}],
                }
            )


def accounts_from_settings() -> MosquittoAccounts:
    """The account API as `settings.MQTT_ACCOUNTS` configures it; `BrokerAccountError` when
    those settings are incomplete."""
    try:
        admin = BrokerAdminSettings.model_validate(settings.MQTT_ACCOUNTS)
    except ValidationError as err:
        raise BrokerAccountError(
            "broker admin settings are incomplete (SIGHTLINE_CLOUD_MQTT_HOST, "
            f"SIGHTLINE_CLOUD_MQTT_ADMIN_USERNAME, ..._PASSWORD): {err}"
        ) from err
    return MosquittoAccounts(admin)


def _delete(session: _Session, username: str) -> bool:
    existed = session.run({"command": "deleteClient", "username": username}, missing_ok=True)
    session.run({"command": "deleteRole", "rolename": username}, missing_ok=True)
    return existed


def _check_name(value: str, what: str) -> None:
    if not is_name(value):
        raise BrokerAccountError(f"{what} {value!r}: use {NAME_RULE}")


class _Session:
    """One MQTT v5 connection to the account API; every `run` waits for its answer."""

    def __init__(self, settings: BrokerAdminSettings) -> None:
        self._timeout = settings.timeout_s
        self._answers: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        self._client.username_pw_set(settings.username, settings.password.get_secret_value())
        apply_tls(self._client, settings)
        self._client.on_message = self._on_message
        try:
            self._client.connect(settings.host, settings.broker_port, keepalive=30)
        except OSError as err:
            raise BrokerAccountError(
                f"cannot reach the broker at {settings.host}:{settings.broker_port}: {err}"
            ) from err
        self._client.loop_start()
        info = self._client.subscribe(RESPONSE_TOPIC, qos=1)
        if info[0] != mqtt.MQTT_ERR_SUCCESS:
            self.close()
            raise BrokerAccountError("cannot subscribe to the account API's answers")

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            logger.warning("unreadable answer from the account API")
            return
        with self._cond:
            for response in responses:
                self._answers[str(response.get("correlationData", ""))] = response
            self._cond.notify_all()

    def run(self, command: dict[str, Any], *, missing_ok: bool = False) -> bool:
        """Send one command and wait for its answer; True on success, False when `missing_ok`
        and the thing to act on did not exist. Raises BrokerAccountError otherwise."""
        correlation = secrets.token_hex(8)
        payload = json.dumps({"commands": [{**command, "correlationData": correlation}]})
        info = self._client.publish(CONTROL_TOPIC, payload, qos=1)
        with self._cond:
            answered = self._cond.wait_for(lambda: correlation in self._answers, self._timeout)
            response = self._answers.pop(correlation, None)
        if not answered or response is None:
            raise BrokerAccountError(
                f"no answer to {command['command']} within {self._timeout:.0f} s "
                f"(publish {'sent' if info.is_published() else 'not sent'}): is the "
                "dynamic-security plugin loaded and the login its admin?"
            )
        error = response.get("error")
        if error is None:
            return True
        if missing_ok and error in _NOT_FOUND:
            return False
        raise BrokerAccountError(f"broker refused {command['command']}: {error}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
