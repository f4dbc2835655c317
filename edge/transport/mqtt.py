"""The device's MQTT link (paho-mqtt 2.x): presence (status birth and will) and the heartbeat.

Records that must be stored do not travel here: an MQTT PUBACK only says that the broker took a
message, not that the cloud stored it (docs/architecture.md, "Transport"), so events and track
summaries go through the outbox and gRPC `UploadRecords`. The link carries what is about the
device's state, where the latest value is what matters: the retained `status` and the `metrics`
heartbeat. Neither is spooled: a heartbeat missed while disconnected is not a loss, the next one
says the same and more.

Connection ownership (the Home Assistant shape): the link, not paho, reconnects.
paho's `reconnect_delay_set` doubles the wait without jitter, so a fleet that lost its broker
would reconnect in lockstep, and paho would retry refused logins forever. Instead a supervisor
thread makes ONE paho client per connection (`reconnect_on_failure=False`, network thread from
`loop_start()`, paho's supported threading model) and, when it ends, waits with jittered
exponential backoff (`sightline.backoff`) before the next. A fresh client per connection also
means nothing queued by paho in a dead connection is replayed later, and PUBACKs never cross
connections (`puback.PublishTracker` matches them within one).

Refusals that retrying cannot fix (bad user name or password, not authorized, banned, invalid
client id, bad auth method, unsupported protocol version) are terminal: the supervisor stops,
`health` becomes FAILED and `error` holds a permanent TransportError for the run summary. A
broker that denies a publish (PUBACK "Not authorized", MQTT 5 only: 3.1.1 brokers drop denied
publishes silently, one reason v5 is the default) fails the link the same way, because every
topic of the device is under its own ACL and a denial means the device is misconfigured.

On every connect, in this order: publish the retained ONLINE birth, then a heartbeat, then one
every `heartbeat_s` (`sightline.device.v1.Metrics` on the `metrics` leaf, QoS 1, not retained,
sampled by the `heartbeat` callable). The retained OFFLINE last will carries the birth's
`session_seq`; a clean stop publishes it itself.

TLS (`sightline.tls.MqttEndpoint`; on unless the broker is on loopback): the system's roots or
`ca_file`, and with `cert_file` / `key_file` a client certificate (mutual TLS) on top of the
password.

Downstream: with a `downstream` callback the link subscribes (QoS 1) to the device's retained
desired state and its commands on every connect, before the birth, and hands each message to
the callback on the network thread (which must only queue it: `edge.deploy.agent`). After the
birth it calls `on_connected`, so that the device reports its state on every connect.
`publish_reported` and `publish_command_result` send the device's answers on the current
connection, QoS 1, not spooled: the latest state is what matters, and it is sent again on
every connect.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import Field, SecretStr

from edge.errors import TransportError
from edge.transport.outbox import Outbox
from edge.transport.puback import Publish, PublishTracker
from sightline.backoff import Backoff, BackoffSettings
from sightline.device.v1 import command_pb2, metrics_pb2, state_pb2, status_pb2
from sightline.device.v1.topics import DeviceTopics, DownstreamTopic, TopicPrefix, Upstream
from sightline.tls import MqttEndpoint

logger = logging.getLogger(__name__)

# MQTT 5.0 section 3.2.2.2 (CONNACK reason codes); paho maps 3.1.1 return codes onto these.
TERMINAL_CONNACK_CODES = frozenset({0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C})
# MQTT 5.0 section 3.4.2.1 (PUBACK reason codes).
PUBACK_NOT_AUTHORIZED = 0x87
_STOP_ACK_TIMEOUT_S = 2.0
_POLL_S = 0.2


class _PahoNoise(logging.Filter):
    """Demotes paho 2.2's "Client is not connected" ERROR to DEBUG.

    After a clean `disconnect()`, `loop_forever` runs its inner loop once more on the closed
    socket and logs that line at ERROR on every shutdown; nothing is wrong then.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and str(record.msg).startswith(
            "Client is not connected"
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_paho_logger = logging.getLogger(f"{__name__}.paho")
_paho_logger.addFilter(_PahoNoise())


class MqttSettings(MqttEndpoint):
    """How the device reaches its MQTT broker (host, port and TLS as `MqttEndpoint`)."""

    username: str | None = Field(
        default=None, description="Login; default the device id (the broker ACL expects it)."
    )
    password: SecretStr | None = Field(default=None, description="Password of the login.")
    keepalive_s: int = Field(
        default=30, ge=5, le=65535, description="MQTT keepalive; a dead link shows after 1.5x."
    )
    topic_prefix: TopicPrefix = Field(
        default="sightline", description="Root level(s) of every topic."
    )
    protocol: Literal["mqttv5", "mqttv311"] = Field(
        default="mqttv5",
        description="MQTT version; v5 reports ACL denials, v3.1.1 brokers drop them silently.",
    )
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        description="How long the broker keeps the session while the device is away; 0 starts "
        "clean on every connect. With mqttv311 any value above 0 means a persistent session, "
        "expired by the broker's own policy.",
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="Give up a connection attempt without CONNACK after this."
    )
    heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds between heartbeats (Metrics on the `metrics` topic) while connected.",
    )
    reconnect: BackoffSettings = Field(
        default=BackoffSettings(initial_s=1.0, max_s=60.0),
        description="Waits between connection attempts (jittered, capped).",
    )


class LinkHealth(enum.Enum):
    """Where the link is; FAILED is terminal (see `MqttLink.error`)."""

    STARTING = "starting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    FAILED = "failed"
    STOPPED = "stopped"


class _Session:
    """One paho client and one network connection; thrown away when the connection ends."""

    def __init__(self, client: mqtt.Client, birth: status_pb2.DeviceStatus) -> None:
        self.client = client
        self.birth = birth
        self.opened = time.monotonic()
        self.was_connected = False
        self.ended = threading.Event()
        self.publishes = PublishTracker()

    def publish(self, topic: str, payload: bytes, *, retain: bool, what: str) -> Publish | None:
        """Publish at QoS 1, tracked for its PUBACK; None when the connection is gone."""

        def send() -> tuple[bool, int]:
            info = self.client.publish(topic, payload, qos=1, retain=retain)
            return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS, info.mid

        return self.publishes.publish(send, what)

    def end(self) -> None:
        self.ended.set()
        self.publishes.end()


class MqttLink:
    """The device's connection to the broker, kept up by a supervisor thread until `stop`."""

    def __init__(
        self,
        settings: MqttSettings,
        topics: DeviceTopics,
        outbox: Outbox,
        describe: Callable[[], status_pb2.DeviceStatus],
        stop: threading.Event,
        heartbeat: Callable[[], metrics_pb2.Metrics] | None = None,
        downstream: Callable[[DownstreamTopic, bytes], None] | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        """`describe` returns a DeviceStatus with agent_version, hardware_profile and models
        set; the link fills in key, state, session_seq and time for the birth and the will.
        `heartbeat` samples the device's Metrics (called on the link's thread every
        `heartbeat_s` while connected); the link fills in key, session_seq and time. None
        sends no heartbeat. `downstream` receives each desired state and command (None
        subscribes to nothing); `on_connected` is called after each birth."""
        if topics.prefix != settings.topic_prefix:
            raise ValueError("topics and settings disagree on the topic prefix")
        self._settings = settings
        self._topics = topics
        self._outbox = outbox
        self._describe = describe
        self._heartbeat = heartbeat
        self._downstream = downstream
        self._on_connected = on_connected
        self._session: _Session | None = None
        self._stop = stop
        self._lock = threading.Condition()
        self._health = LinkHealth.STARTING
        self._error: TransportError | None = None
        self._thread: threading.Thread | None = None
        self._log_extra = {"device_id": topics.device}

    # Public surface --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the supervisor thread (connects in the background)."""
        self._thread = threading.Thread(
            target=self._supervise, name=f"mqtt-{self._topics.device}", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the supervisor to end (after `stop` is set, or a terminal failure)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def health(self) -> LinkHealth:
        """Current state of the link."""
        with self._lock:
            return self._health

    @property
    def error(self) -> TransportError | None:
        """The permanent error that stopped the link, if any."""
        with self._lock:
            return self._error

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (True) or timeout (False); raises the error if FAILED."""
        with self._lock:
            self._lock.wait_for(
                lambda: self._health in (LinkHealth.CONNECTED, LinkHealth.FAILED), timeout
            )
            if self._error is not None:
                raise self._error
            return self._health is LinkHealth.CONNECTED

    # Supervisor thread -----------------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = Backoff(self._settings.reconnect)
        announced = False
        while not self._stop.is_set():
            connected = False
            try:
                session = self._open()
                if session is not None:
                    self._serve(session)
                    connected = session.was_connected
            except Exception:
                # Thread boundary: a bug here must not leave the device silently offline.
                logger.exception("MQTT supervisor failed; reconnecting", extra=self._log_extra)
            if self._stop.is_set() or self.error is not None:
                break
            if connected:
                # A connection that worked: the next attempt may well succeed at once.
                backoff.reset()
                announced = False
            delay = backoff.next_delay()
            # A failed attempt is said once per outage at WARNING, then at DEBUG.
            log = logger.info if connected else logger.debug if announced else logger.warning
            announced = announced or not connected
            log(
                "MQTT broker %s:%d %s, retrying in %.1fs",
                self._settings.host,
                self._settings.broker_port,
                "connection ended" if connected else "unavailable",
                delay,
                extra=self._log_extra,
            )
            self._stop.wait(delay)
        with self._lock:
            if self._health is not LinkHealth.FAILED:
                self._set_health(LinkHealth.STOPPED)

    def _open(self) -> _Session | None:
        """A new client with TCP connected and CONNECT sent, or None when unreachable."""
        settings = self._settings
        session_seq = self._outbox.next_seq(self._topics.device, "session")
        now = dt.datetime.now(dt.UTC)
        will = self._status(status_pb2.DEVICE_STATE_OFFLINE, session_seq, now)
        birth = self._status(status_pb2.DEVICE_STATE_ONLINE, session_seq, now)
        session = _Session(self._new_client(will), birth)
        try:
            if settings.protocol == "mqttv5":
                properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                properties.SessionExpiryInterval = settings.session_expiry_s
                session.client.connect(
                    settings.host,
                    settings.broker_port,
                    settings.keepalive_s,
                    clean_start=settings.session_expiry_s == 0,
                    properties=properties,
                )
            else:
                session.client.connect(settings.host, settings.broker_port, settings.keepalive_s)
        except OSError as err:
            logger.debug("MQTT connect failed: %s", err, extra=self._log_extra)
            return None
        return session

    def _new_client(self, will: status_pb2.DeviceStatus) -> mqtt.Client:
        settings = self._settings
        v5 = settings.protocol == "mqttv5"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self._topics.device,
            protocol=MQTTProtocolVersion.MQTTv5 if v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if v5 else settings.session_expiry_s == 0,
            reconnect_on_failure=False,
        )
        client.connect_timeout = settings.connect_timeout_s
        client.username_pw_set(
            settings.username or self._topics.device,
            settings.password.get_secret_value() if settings.password else None,
        )
        if settings.uses_tls:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
            )
        client.will_set(self._topics.status, will.SerializeToString(), qos=1, retain=True)
        # Our callbacks catch their own errors; this keeps a bug in one from ending the loop.
        client.suppress_exceptions = True
        client.enable_logger(_paho_logger)
        return client

    def _serve(self, session: _Session) -> None:
        """Run one connection until it ends or `stop` is set."""
        client = session.client
        client.on_connect = lambda _c, _u, _f, reason, _p: self._on_connect(session, reason)
        client.on_disconnect = lambda _c, _u, _f, reason, _p: self._on_disconnect(session, reason)
        client.on_publish = lambda _c, _u, mid, reason, _p: self._on_publish(session, mid, reason)
        client.on_message = lambda _c, _u, message: self._on_message(message)
        client.on_subscribe = lambda _c, _u, _m, reasons, _p: self._on_subscribe(reasons)
        with self._lock:
            self._session = session
        client.loop_start()
        next_heartbeat = 0.0
        while not session.ended.wait(_POLL_S):
            if self._stop.is_set():
                self._close(session)
                break
            now = time.monotonic()
            if session.was_connected and now >= next_heartbeat:
                next_heartbeat = now + self._settings.heartbeat_s
                self._send_heartbeat(session)
            if (
                not session.was_connected
                and now - session.opened > self._settings.connect_timeout_s
            ):
                # TCP is up but no CONNACK came: a wedged broker or a middlebox.
                logger.warning("no CONNACK within %.0fs", self._settings.connect_timeout_s)
                client.disconnect()
                session.ended.wait(_STOP_ACK_TIMEOUT_S)
                break
        client.loop_stop()
        with self._lock:
            self._session = None
        # The callbacks close a reference cycle (client -> callback -> session -> client).
        # Breaking it lets the client go at once, and with it the socket pair paho opened for
        # its network thread, which it closes only when the client is deleted.
        client.on_connect = client.on_disconnect = client.on_publish = None
        client.on_message = client.on_subscribe = None

    def _close(self, session: _Session) -> None:
        """Clean stop: publish the OFFLINE status ourselves, then disconnect (no will)."""
        if session.was_connected:
            offline = status_pb2.DeviceStatus()
            offline.CopyFrom(session.birth)
            offline.state = status_pb2.DEVICE_STATE_OFFLINE
            offline.time.FromDatetime(dt.datetime.now(dt.UTC))
            offline.key.seq = self._outbox.next_seq(self._topics.device)
            sent = session.publish(
                self._topics.status, offline.SerializeToString(), retain=True, what="status"
            )
            if sent is not None:
                session.publishes.wait(sent, _STOP_ACK_TIMEOUT_S)
        session.client.disconnect()
        session.ended.wait(_STOP_ACK_TIMEOUT_S)
        logger.info("MQTT link stopped", extra=self._log_extra)

    def _send_heartbeat(self, session: _Session) -> None:
        """Sample the Metrics and publish them (never spooled: see the module docstring)."""
        if self._heartbeat is None:
            return
        try:
            metrics = self._heartbeat()
        except Exception:
            # Loop boundary: a bug in a sampler must not take the connection down.
            logger.exception("heartbeat sample failed", extra=self._log_extra)
            return
        metrics.key.device_id = self._topics.device
        metrics.key.seq = self._outbox.next_seq(self._topics.device)
        metrics.session_seq = session.birth.session_seq
        metrics.time.FromDatetime(dt.datetime.now(dt.UTC))
        topic = self._topics.upstream(Upstream.METRICS)
        session.publish(topic, metrics.SerializeToString(), retain=False, what="metrics")

    def publish_reported(self, state: state_pb2.ReportedState) -> bool:
        """Send the device's reported state (key and nothing else filled in here); False when
        not connected."""
        state.key.device_id = self._topics.device
        state.key.seq = self._outbox.next_seq(self._topics.device)
        topic = self._topics.upstream(Upstream.REPORTED)
        return self._publish_now(topic, state.SerializeToString(), "reported state")

    def publish_command_result(self, result: command_pb2.CommandResult) -> bool:
        """Send the answer to a command; False when not connected."""
        result.key.device_id = self._topics.device
        result.key.seq = self._outbox.next_seq(self._topics.device)
        topic = self._topics.command_result(result.name)
        return self._publish_now(topic, result.SerializeToString(), "command result")

    def _publish_now(self, topic: str, payload: bytes, what: str) -> bool:
        with self._lock:
            session = self._session if self._health is LinkHealth.CONNECTED else None
        if session is None:
            return False
        return session.publish(topic, payload, retain=False, what=what) is not None

    # paho callbacks (network thread) ---------------------------------------------------------

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        if self._downstream is None:
            return
        parsed = self._topics.parse_downstream(message.topic)
        if parsed is None:
            logger.warning("ignored a message on %s", message.topic, extra=self._log_extra)
            return
        try:
            self._downstream(parsed, bytes(message.payload))
        except Exception:
            # Callback boundary: paho's loop must keep running whatever a handler does.
            logger.exception("downstream handler failed", extra=self._log_extra)

    def _on_subscribe(self, reasons: list[ReasonCode]) -> None:
        refused = [reason.getName() for reason in reasons if reason.is_failure]
        if refused:
            logger.error(
                "broker refused the downstream subscriptions (%s): desired state and commands "
                "will not arrive; check the device's ACL", ", ".join(refused),
                extra=self._log_extra,
            )  # fmt: skip

    def _on_connect(self, session: _Session, reason: ReasonCode) -> None:
        if reason.is_failure:
            error = TransportError(
                f"MQTT broker refused the connection: {reason.getName()}",
                permanent=reason.value in TERMINAL_CONNACK_CODES,
            )
            if error.permanent:
                self._fail(error)  # paho closes a refused connection itself
            else:
                logger.info("%s", error, extra=self._log_extra)
            return
        if self._downstream is not None:
            # Before the birth: the cloud may answer a birth with commands.
            session.client.subscribe(
                [(topic, 1) for topic in self._topics.downstream_subscriptions]
            )
        session.publish(
            self._topics.status, session.birth.SerializeToString(), retain=True, what="status"
        )
        session.was_connected = True
        with self._lock:
            self._set_health(LinkHealth.CONNECTED)
        if self._on_connected is not None:
            self._on_connected()
        logger.info(
            "MQTT connected to %s:%d (session %d)",
            self._settings.host,
            self._settings.broker_port,
            session.birth.session_seq,
            extra=self._log_extra,
        )

    def _on_disconnect(self, session: _Session, reason: ReasonCode) -> None:
        with self._lock:
            if self._health is LinkHealth.CONNECTED:
                self._set_health(LinkHealth.DISCONNECTED)
                if not self._stop.is_set():  # our own clean stop is not news
                    logger.warning(
                        "MQTT connection lost: %s", reason.getName(), extra=self._log_extra
                    )
        session.end()

    def _on_publish(self, session: _Session, mid: int, reason: ReasonCode) -> None:
        tracked = session.publishes.acked(mid, reason)
        if tracked is None or not reason.is_failure:
            return
        if reason.value == PUBACK_NOT_AUTHORIZED:
            self._fail(
                TransportError(
                    f"broker denied publishing {tracked.what} (check device id, site and ACL)",
                    permanent=True,
                )
            )
            session.client.disconnect()
        else:
            logger.warning(
                "broker refused the %s message: %s",
                tracked.what,
                reason.getName(),
                extra=self._log_extra,
            )

    # Helpers ---------------------------------------------------------------------------------

    def _status(
        self, state: status_pb2.DeviceState, session_seq: int, now: dt.datetime
    ) -> status_pb2.DeviceStatus:
        status = status_pb2.DeviceStatus()
        status.CopyFrom(self._describe())  # a copy: describe() may return a shared template
        status.state = state
        status.session_seq = session_seq
        status.time.FromDatetime(now)
        status.key.device_id = self._topics.device
        status.key.seq = self._outbox.next_seq(self._topics.device)
        return status

    def _fail(self, error: TransportError) -> None:
        """Terminal: remember the error; the supervisor stops once this connection ends."""
        with self._lock:
            self._error = error
            self._set_health(LinkHealth.FAILED)
        logger.error("MQTT link stopped for good: %s", error, extra=self._log_extra)

    def _set_health(self, health: LinkHealth) -> None:
        """Change the state (caller holds the lock) and wake `wait_connected`."""
        self._health = health
        self._lock.notify_all()
