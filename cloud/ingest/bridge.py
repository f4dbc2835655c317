"""The MQTT bridge: device presence and state (status, metrics, reported) into the database.

One `MqttBridge` holds one paho-mqtt client (MQTT 5, the cloud's own account) subscribed at
QoS 1 to every upstream topic of every device at its sites (`sightline.device.v1.topics`);
events and track summaries travel over gRPC instead.
The network loop only queues messages; the thread that calls `run()` takes whatever has queued
up (at most `batch_max`), applies it (`cloud.ingest.device_messages`) and acknowledges each
message only afterwards, in the order they arrived ("manual ack"), so a message is never lost
between the broker and the database. Status and reported-state messages are applied one by one;
the heartbeats of a batch are stored together, in one transaction (`handle_heartbeats`), which
is what lets one bridge keep up with thousands of devices: batches grow by themselves while
the database is busy, and stay single messages while it is not. Failures are classified by
`cloud.ingest.failures`, so that no message can stall the ones behind it:

- applied, repeated or stale: acknowledged;
- breaks the contract, names an unknown device, or holds what the database refuses: logged as
  a WARNING with its topic, counted, acknowledged (redelivering it could never help);
- database unavailable: retried with backoff (`retry`) until it works or the bridge stops.
  Left unacknowledged on stop, the broker redelivers it to the next session: the session is
  persistent (clean start off, with an expiry), and the broker's receive maximum bounds how
  many unacknowledged messages wait in the queue;
- anything else (a bug): logged with its traceback, counted, acknowledged.

A batch of heartbeats that fails as a whole for any reason but an unavailable database is
applied again one heartbeat at a time, so that each is classified on its own.

The bridge owns its reconnects, as the edge's MQTT link does (docs/architecture.md,
"Transport"): paho's own reconnect is off (its fixed doubling has no jitter and retries refused
logins forever); a supervisor thread reconnects with the system's backoff policy
(`sightline.backoff`, `reconnect`) and resubscribes on every connect. A refused login or
subscription stops the bridge with `BridgeError`: retrying cannot fix a wrong password or ACL.
Acknowledgements carry the connection they came from: a message received on a connection that
has since ended is not acknowledged on the next one, where its packet id may name another
message; the broker redelivers it instead.

Run one bridge per client id, for all sites or for a share of them (`sites`); the effects are
idempotent, so two bridges overlapping during a rolling update only do work twice.

Downstream: the bridge's account is the cloud's one writer of devices' desired state, so the
bridge also runs a `downstream` pass (`cloud.deploy.publisher`) every `_DOWNSTREAM_EVERY_S`
while connected, between two messages on its processing thread: it publishes through
`publish_many`, which sends a pass's messages together and returns, per message, whether the
broker acknowledged it: waiting for each PUBACK before sending the next capped a pass at one
message per round trip (about 40 desired states a second on a busy 2-core machine).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

import paho.mqtt.client as mqtt
from django.db import close_old_connections
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import Field, SecretStr, model_validator

from cloud.errors import CloudError, NotFound
from cloud.ingest.device_messages import handle_device_message, handle_heartbeats
from cloud.ingest.failures import Failure, classify, refused_by_database
from cloud.lib.mqtt_tls import apply_tls
from sightline.backoff import Backoff, BackoffSettings
from sightline.device.v1.topics import (
    TopicPrefix,
    Upstream,
    UpstreamTopic,
    parse_upstream,
    upstream_subscriptions,
)
from sightline.tls import MqttEndpoint

logger = logging.getLogger(__name__)

Handler = Callable[[UpstreamTopic, bytes, datetime], bool]
Outgoing = tuple[str, bytes, bool]
"""A downstream message: topic, payload, retained."""
PublishMany = Callable[[Sequence[Outgoing]], list[bool]]
Downstream = Callable[[PublishMany], int]
"""A pass over pending downstream messages: publishes them with the callable it is given."""
Arrival = tuple[UpstreamTopic, bytes, datetime]
BatchHandler = Callable[[Sequence[Arrival]], list[bool | CloudError]]

# CONNACK reason codes (MQTT 5.0 section 3.2.2.2) that retrying cannot fix: bad user name or
# password, not authorized, banned, bad authentication method.
_REFUSED_LOGIN: Final = frozenset({0x86, 0x87, 0x8A, 0x8C})
_POLL_S: Final = 0.5
_DOWNSTREAM_EVERY_S: Final = 1.0
# How long `run` waits for the supervisor to say goodbye to the broker when it stops.
_STOP_TIMEOUT_S: Final = 5.0


class MqttBridgeSettings(MqttEndpoint):
    """How the bridge reaches the broker (`settings.MQTT_BRIDGE`); host, port and TLS as
    `sightline.tls.MqttEndpoint`."""

    username: str = Field(default="", description="The cloud's broker account; '' for none.")
    password: SecretStr = Field(default=SecretStr(""), description="Its password.")
    topic_prefix: TopicPrefix = Field(
        default="sightline", description="Root level(s) of every topic, as the edges use."
    )
    client_id: str = Field(
        default="",
        description="MQTT client id; the broker keeps the persistent session under it. Empty "
        "means the user name (what a broker that binds accounts to client ids accepts, as the "
        "cloud's own broker accounts do, cloud.fleet.broker), or 'sightline-cloud-bridge' "
        "without one.",
    )
    sites: tuple[str, ...] = Field(
        default=(),
        description="Sites (topic level) whose devices this bridge serves; empty for all. "
        "Bridges with disjoint sites (and client ids) share the load of a large fleet.",
    )
    protocol: Literal["mqttv5", "mqttv311"] = Field(
        default="mqttv5",
        description="MQTT version. 3.1.1 is for brokers without MQTT 5 (the demo's in-process "
        "broker); the session then persists with clean_session=False and the broker's own expiry.",
    )
    keepalive_s: int = Field(default=30, ge=5, description="MQTT keep-alive interval.")
    session_expiry_s: int = Field(
        default=24 * 3600,
        ge=0,
        description="How long the broker keeps the session (and queues messages) while the "
        "bridge is away.",
    )
    receive_maximum: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="Unacknowledged QoS 1 messages the broker may send at once: the most one "
        "batch can hold.",
    )
    batch_max: int = Field(
        default=1000,
        ge=1,
        description="Most messages applied (heartbeats: stored in one transaction) at once.",
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="Give up a connection attempt without CONNACK after this."
    )
    reconnect: BackoffSettings = Field(
        default=BackoffSettings(initial_s=1.0, max_s=60.0),
        description="Waits between connection attempts (jittered, capped).",
    )
    retry: BackoffSettings = Field(
        default=BackoffSettings(initial_s=0.5, max_s=30.0),
        description="Waits between attempts to apply a message while the database is down.",
    )

    @property
    def session_client_id(self) -> str:
        """The client id the bridge connects with (see `client_id`)."""
        return self.client_id or self.username or "sightline-cloud-bridge"

    @model_validator(mode="after")
    def _valid_sites(self) -> MqttBridgeSettings:
        upstream_subscriptions(self.topic_prefix, self.sites)
        return self


class BridgeError(CloudError):
    """The broker refused the bridge's login or subscriptions; an operator must act."""


class MqttBridge:
    """Subscribes to device topics and applies each message; see the module docstring.

    `counts` tallies outcomes by name (applied, ignored, malformed, unknown_device,
    refused_by_database, unknown_topic, failed) for logs and tests.
    """

    def __init__(
        self,
        settings: MqttBridgeSettings,
        handle: Handler = handle_device_message,
        handle_many: BatchHandler = handle_heartbeats,
        downstream: Downstream | None = None,
    ) -> None:
        """`handle` applies one message, `handle_many` many heartbeats at once."""
        self._settings = settings
        self._handle = handle
        self._downstream = downstream
        self._connected = False
        self._refused: dict[int, ReasonCode] = {}
        """PUBACK failures by packet id, for `publish`."""
        self._handle_many = handle_many
        self._messages: queue.Queue[tuple[mqtt.MQTTMessage, datetime, int]] = queue.Queue()
        self._fatal: str | None = None
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._connection = 0
        """Counts successful connects; a message is acknowledged only on the one it came by."""
        self.counts: Counter[str] = Counter()
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        v5 = self._settings.protocol == "mqttv5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._settings.session_client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            # MQTT 3.1.1 has no clean_start: its persistent session is clean_session=False.
            clean_session=None if v5 else False,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        client.connect_timeout = self._settings.connect_timeout_s
        if self._settings.username:
            client.username_pw_set(
                self._settings.username, self._settings.password.get_secret_value()
            )
        apply_tls(client, self._settings)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    # paho callbacks: they run on the supervisor thread and must not block.

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            if reason.value in _REFUSED_LOGIN:
                self._stop_fatally(
                    f"broker refused the login of {self._settings.username!r}: {reason}"
                )
            else:
                logger.warning("broker refused the connection: %s; retrying", reason)
            return
        with self._lock:
            self._connection += 1
            self._connected = True
        topics = upstream_subscriptions(self._settings.topic_prefix, self._settings.sites)
        if self._settings.protocol == "mqttv5":
            client.subscribe([(topic, SubscribeOptions(qos=1)) for topic in topics])
        else:  # MQTT 3.1.1 has no subscription options, only the QoS.
            client.subscribe([(topic, 1) for topic in topics])
        logger.info("connected to the broker; subscribing to %s", ", ".join(topics))

    def _on_subscribe(
        self, _client: Any, _userdata: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            self._stop_fatally(f"broker refused the subscriptions: {', '.join(refused)}")

    def _on_disconnect(
        self, _client: Any, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        with self._lock:
            self._connected = False
        if not self._halt.is_set():
            logger.warning("disconnected from the broker: %s", reason)

    def _on_publish(
        self, _client: Any, _userdata: Any, mid: int, reason: ReasonCode, _props: Any
    ) -> None:
        # paho calls this before it marks the message published, so `publish` sees
        # the refusal when its wait ends.
        if reason.is_failure:
            with self._lock:
                self._refused[mid] = reason

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            connection = self._connection
        self._messages.put((message, datetime.now(UTC), connection))

    def _stop_fatally(self, reason: str) -> None:
        self._fatal = reason
        self._halt.set()

    # The supervisor thread: owns the connection and the paho network loop.

    def _supervise(self) -> None:
        backoff = Backoff(self._settings.reconnect)
        while not self._halt.is_set():
            with self._lock:
                before = self._connection
            try:
                self._connect()
            except OSError as err:
                logger.warning(
                    "cannot reach the broker at %s:%d: %s",
                    self._settings.host,
                    self._settings.broker_port,
                    err,
                )
            else:
                self._serve()
            with self._lock:
                connected = self._connection != before
            if connected:
                # A connection that worked: the next attempt may well succeed at once.
                backoff.reset()
            if self._halt.is_set():
                break
            delay = backoff.next_delay()
            logger.info("reconnecting to the broker in %.1f s", delay)
            self._halt.wait(delay)

    def _connect(self) -> None:
        """Open one connection (the CONNACK arrives later, in the network loop)."""
        settings = self._settings
        if settings.protocol == "mqttv5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = settings.session_expiry_s
            properties.ReceiveMaximum = settings.receive_maximum
            self._client.connect(
                settings.host,
                settings.broker_port,
                keepalive=settings.keepalive_s,
                clean_start=False,
                properties=properties,
            )
        else:
            self._client.connect(
                settings.host, settings.broker_port, keepalive=settings.keepalive_s
            )

    def _serve(self) -> None:
        """Run the network loop until the connection ends or the bridge halts."""
        while not self._halt.is_set():
            if self._client.loop(timeout=_POLL_S) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
        # Halting: say goodbye, so the broker keeps the session without waiting for keep-alive.
        self._client.disconnect()
        self._client.loop(timeout=_POLL_S)

    # The processing thread.

    def run(self, stop: threading.Event) -> None:
        """Connect and apply messages until `stop` is set; raise `BridgeError` if refused."""
        supervisor = threading.Thread(target=self._supervise, name="mqtt-bridge", daemon=True)
        supervisor.start()
        next_downstream = 0.0
        try:
            while not (stop.is_set() or self._halt.is_set()):
                batch = self._next_batch()
                applied = self.process_batch(
                    [(message.topic, bytes(message.payload), at) for message, at, _ in batch], stop
                )
                for (message, _, connection), done in zip(batch, applied, strict=True):
                    if not done:  # stopped while retrying: the broker redelivers the rest
                        break
                    self._ack(message, connection)
                if time.monotonic() >= next_downstream:
                    next_downstream = time.monotonic() + _DOWNSTREAM_EVERY_S
                    self._run_downstream()
        finally:
            self._halt.set()
            supervisor.join(_STOP_TIMEOUT_S)
        if self._fatal is not None:
            raise BridgeError(self._fatal)

    def _run_downstream(self) -> None:
        if self._downstream is None:
            return
        with self._lock:
            if not self._connected:
                return
        close_old_connections()
        try:
            self._downstream(self.publish_many)
        except Exception as err:
            # The loop boundary: a failed pass leaves its messages pending for the next one.
            if classify(err) is Failure.TRANSIENT:
                logger.warning("database unavailable for publishing desired states: %s", err)
            else:
                logger.exception("publishing desired states failed")

    def publish_many(self, messages: Sequence[Outgoing]) -> list[bool]:
        """Publish each (topic, payload, retained) at QoS 1, all handed to paho before any
        PUBACK is awaited (paho keeps its in-flight window full); per message, True once the
        broker acknowledged it, False when not connected, refused, or unanswered within
        `connect_timeout_s` of the acknowledgement before it."""
        with self._lock:
            if not self._connected:
                return [False] * len(messages)
        infos = [
            self._client.publish(topic, payload, qos=1, retain=retain)
            for topic, payload, retain in messages
        ]
        acknowledged = []
        for (topic, _, _), info in zip(messages, infos, strict=True):
            acknowledged.append(self._acknowledged(topic, info))
        return acknowledged

    def _acknowledged(self, topic: str, info: mqtt.MQTTMessageInfo) -> bool:
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        try:
            info.wait_for_publish(self._settings.connect_timeout_s)
        except (RuntimeError, ValueError):
            return False
        with self._lock:
            refused = self._refused.pop(info.mid, None)
        if refused is not None:
            logger.warning("broker refused the publish on %s: %s", topic, refused)
        return info.is_published() and refused is None

    def _next_batch(self) -> list[tuple[mqtt.MQTTMessage, datetime, int]]:
        """The messages queued now (at most `batch_max`), after waiting for the first one up to
        a poll interval; empty when none came."""
        try:
            batch = [self._messages.get(timeout=_POLL_S)]
        except queue.Empty:
            return []
        while len(batch) < self._settings.batch_max:
            try:
                batch.append(self._messages.get_nowait())
            except queue.Empty:
                break
        return batch

    def _ack(self, message: mqtt.MQTTMessage, connection: int) -> None:
        with self._lock:
            current = connection == self._connection
        if current:
            self._client.ack(message.mid, message.qos)
        else:
            logger.debug("not acknowledging %s: its connection has ended", message.topic)

    def process(
        self, topic: str, payload: bytes, received_at: datetime, stop: threading.Event
    ) -> bool:
        """Apply one message; return False only when `stop` interrupted a retry (do not ack).

        The loop boundary of the bridge: no message can stop it, whatever it holds.
        """
        parsed = parse_upstream(self._settings.topic_prefix, topic)
        if parsed is None:
            logger.warning("ignored a message on unexpected topic %s", topic)
            self.counts["unknown_topic"] += 1
            return True
        backoff = Backoff(self._settings.retry)
        while True:
            close_old_connections()
            try:
                applied = self._handle(parsed, payload, received_at)
            except Exception as err:
                # The loop boundary: every failure is classified, none stops the bridge.
                failure = classify(err)
                if failure is Failure.TRANSIENT:
                    delay = backoff.next_delay()
                    logger.warning(
                        "database unavailable for %s (%s); retrying in %.1f s", topic, err, delay
                    )
                    if stop.wait(delay):
                        return False
                    continue
                if failure is Failure.REJECTED:
                    self._drop(topic, _rejected_as(err), err)
                else:
                    logger.exception("failed to apply the message on %s; dropped it", topic)
                    self.counts["failed"] += 1
            else:
                self.counts["applied" if applied else "ignored"] += 1
            return True

    def process_batch(
        self, messages: Sequence[tuple[str, bytes, datetime]], stop: threading.Event
    ) -> list[bool]:
        """Apply messages (topic, payload, received_at); per message False only when `stop`
        interrupted a retry (do not ack). Heartbeats are stored together, the rest one by one."""
        done: list[bool] = [False] * len(messages)
        heartbeats: dict[int, Arrival] = {}
        for index, (topic, payload, received_at) in enumerate(messages):
            parsed = parse_upstream(self._settings.topic_prefix, topic)
            if parsed is not None and parsed.leaf is Upstream.METRICS:
                heartbeats[index] = (parsed, payload, received_at)
            else:
                done[index] = self.process(topic, payload, received_at, stop)
        if len(heartbeats) == 1:
            (index,) = heartbeats
            done[index] = self.process(*messages[index], stop)
        elif heartbeats:
            batch = [messages[index] for index in heartbeats]
            stored = self._process_heartbeats(batch, list(heartbeats.values()), stop)
            for index, applied in zip(heartbeats, stored, strict=True):
                done[index] = applied
        return done

    def _process_heartbeats(
        self,
        messages: Sequence[tuple[str, bytes, datetime]],
        arrivals: Sequence[Arrival],
        stop: threading.Event,
    ) -> list[bool]:
        """Store heartbeats (`messages`, their topics parsed in `arrivals`) together, retrying
        while the database is unavailable; a batch that fails otherwise is applied again one
        message at a time."""
        backoff = Backoff(self._settings.retry)
        while True:
            close_old_connections()
            try:
                outcomes = self._handle_many(arrivals)
            except Exception as err:
                # The loop boundary, as in `process`.
                if classify(err) is Failure.TRANSIENT:
                    delay = backoff.next_delay()
                    logger.warning(
                        "database unavailable for %d heartbeats (%s); retrying in %.1f s",
                        len(messages), err, delay,
                    )  # fmt: skip
                    if stop.wait(delay):
                        return [False] * len(messages)
                    continue
                logger.warning(
                    "storing %d heartbeats together failed (%s); storing them one by one",
                    len(messages), err,
                )  # fmt: skip
                return [self.process(*message, stop) for message in messages]
            for (topic, _, _), outcome in zip(messages, outcomes, strict=True):
                if isinstance(outcome, CloudError):
                    self._drop(topic, _rejected_as(outcome), outcome)
                else:
                    self.counts["applied" if outcome else "ignored"] += 1
            return [True] * len(messages)

    def _drop(self, topic: str, outcome: str, err: Exception) -> None:
        # The outcome tells a malformed message from one the checks let through to the
        # database (refused_by_database: a check is missing).
        logger.warning("dropped the message on %s (%s): %s", topic, outcome, err)
        self.counts[outcome] += 1


def _rejected_as(error: Exception) -> str:
    """The count (`MqttBridge.counts`) a rejected message adds to."""
    if isinstance(error, NotFound):
        return "unknown_device"
    if refused_by_database(error):
        return "refused_by_database"
    return "malformed"
