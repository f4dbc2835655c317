"""A blocking MQTT v5 client for tests: each call waits for the broker's answer and returns it.

MQTT v5 matters here: the broker reports an ACL denial as a reason code on SUBACK/PUBACK, where
v3.1.1 would drop a denied publish silently.
"""

from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.services.contract import MqttAccount, MqttBroker

TIMEOUT = 5.0


class BrokerSession:
    """One MQTT v5 connection with synchronous connect, subscribe and QoS 1 publish."""

    def __init__(
        self,
        broker: MqttBroker,
        account: MqttAccount | None,
        client_id: str | None = None,
        *,
        will: tuple[str, bytes] | None = None,
    ) -> None:
        """`client_id` defaults to the account's user name: the broker binds device and bridge
        accounts to it (only the test admin may pick any). `will` is a (topic, payload) last
        will, at QoS 1 and not retained."""
        self._broker = broker
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or (account.username if account else ""),
            protocol=MQTTProtocolVersion.MQTTv5,
            # A refused login must stay refused, not be retried in the background.
            reconnect_on_failure=False,
        )
        if account is not None:
            self._client.username_pw_set(account.username, account.password)
        if will is not None:
            self._client.will_set(*will, qos=1)
        self._answers: dict[tuple[str, int], Any] = {}
        self._answered = threading.Condition()
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.disconnected = threading.Event()
        """Set when the broker ends the connection (or `close` does)."""
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._client.on_message = lambda _client, _userdata, message: self.messages.put(message)
        self._client.on_disconnect = lambda *_args: self.disconnected.set()

    def _answer(self, key: tuple[str, int], value: object) -> None:
        with self._answered:
            self._answers[key] = value
            self._answered.notify_all()

    def _await(self, key: tuple[str, int]) -> Any:
        with self._answered:
            if not self._answered.wait_for(lambda: key in self._answers, timeout=TIMEOUT):
                raise TimeoutError(f"no {key[0]} answer from the broker within {TIMEOUT}s")
            return self._answers.pop(key)

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._answer(("connack", 0), reason)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        self._answer(("suback", mid), reasons)

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self._answer(("puback", mid), reason)

    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK reason code (success or the refusal)."""
        self._client.connect(self._broker.host, self._broker.port, keepalive=30)
        self._client.loop_start()
        reason: ReasonCode = self._await(("connack", 0))
        return reason

    def subscribe(self, topic: str, qos: int = 1, *, retained: bool = True) -> ReasonCode:
        """Subscribe and return the SUBACK reason code (granted QoS or a refusal).

        `retained=False` asks the broker not to replay retained messages: other tests leave
        retained status messages on the shared broker, which a wildcard would see first.
        """
        handling = (
            SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE
            if retained
            else SubscribeOptions.RETAIN_DO_NOT_SEND
        )
        options = SubscribeOptions(qos=qos, retainHandling=handling)
        _, mid = self._client.subscribe(topic, options=options)
        assert mid is not None
        reasons: list[ReasonCode] = self._await(("suback", mid))
        return reasons[0]

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self._client.publish(topic, payload, qos=1)
        reason: ReasonCode = self._await(("puback", info.mid))
        return reason

    def next_message(self) -> mqtt.MQTTMessage:
        """The next message delivered to this session's subscriptions (waits up to TIMEOUT)."""
        return self.messages.get(timeout=TIMEOUT)

    def vanish(self) -> None:
        """End the connection so that the broker publishes the last will."""
        # MQTT 5.0 section 3.14.2.1: reason 0x04 asks the broker to send the will, as after a
        # lost connection, without waiting for the keep-alive to expire.
        self._client.disconnect(ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"))
        self._client.loop_stop()

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> BrokerSession:
        reason = self.connect()
        if reason.is_failure:
            self.close()
            raise ConnectionRefusedError(f"broker refused the connection: {reason}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
