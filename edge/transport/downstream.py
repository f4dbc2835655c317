"""Routing of downstream MQTT messages (commands, desired state) to registered handlers.

`dispatch` parses the protobuf payload and calls the handler. It never raises: a malformed
payload is logged at WARNING with its topic and counted, and a handler that raises is logged
with its traceback, so one bad message can never end the MQTT network loop.

The router answers on its own only where the contract (`sightline/device/v1/command.proto`)
says so without running anything: an unknown command gets COMMAND_STATUS_REJECTED, an expired
one COMMAND_STATUS_EXPIRED. Everything else (running the command, remembering request ids,
comparing desired generations) is the handler's job.

Handlers run on the MQTT network thread: they must return quickly (hand long work to a queue),
because acks for this connection are not processed while they run.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from google.protobuf.message import DecodeError

from sightline.device.v1 import command_pb2, state_pb2
from sightline.device.v1.topics import DeviceTopics

logger = logging.getLogger(__name__)

CommandHandler = Callable[[command_pb2.Command], None]
DesiredHandler = Callable[[state_pb2.DesiredState], None]
Reply = Callable[[command_pb2.CommandResult], None]
"""Sends a CommandResult upstream (the link spools it in the outbox)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DownstreamRouter:
    """The callback registry for one device's downstream topics. Thread-safe."""

    def __init__(
        self, topics: DeviceTopics, reply: Reply, clock: Callable[[], dt.datetime] = _now
    ) -> None:
        self._topics = topics
        self._reply = reply
        self._clock = clock
        self._lock = threading.Lock()
        self._commands: dict[str, CommandHandler] = {}
        self._desired: DesiredHandler | None = None
        self._malformed = 0

    def on_command(self, name: str, handler: CommandHandler) -> None:
        """Call `handler` for every valid, unexpired `cmd/<name>` message."""
        self._topics.command(name)  # validates the name as a topic level
        with self._lock:
            self._commands[name] = handler

    def on_desired(self, handler: DesiredHandler) -> None:
        """Call `handler` for every valid DesiredState (retained: also once per connect)."""
        with self._lock:
            self._desired = handler

    @property
    def malformed(self) -> int:
        """Downstream messages dropped as malformed since start."""
        with self._lock:
            return self._malformed

    def dispatch(self, topic: str, payload: bytes) -> None:
        """Route one received message; never raises."""
        route = self._topics.parse_downstream(topic)
        if route is None:
            logger.warning("ignoring message on unexpected topic %s", topic)
            return
        try:
            if route.command is None:
                self._dispatch_desired(topic, payload)
            else:
                self._dispatch_command(topic, route.command, payload)
        except Exception:
            # Thread boundary (the MQTT network loop): log and keep the loop alive.
            logger.exception("handler for %s failed", topic)

    def _drop(self, topic: str, why: str) -> None:
        with self._lock:
            self._malformed += 1
        logger.warning("dropping malformed message on %s: %s", topic, why)

    def _dispatch_desired(self, topic: str, payload: bytes) -> None:
        if not payload:
            # An empty retained payload is how a retained message is cleared (MQTT 3.3.1.3).
            logger.debug("desired state cleared on %s", topic)
            return
        try:
            desired = state_pb2.DesiredState.FromString(payload)
        except DecodeError:
            self._drop(topic, "not a DesiredState")
            return
        if desired.generation == 0:
            self._drop(topic, "DesiredState without a generation")
            return
        with self._lock:
            handler = self._desired
        if handler is None:
            logger.info("no handler for desired state generation %d", desired.generation)
            return
        handler(desired)

    def _dispatch_command(self, topic: str, name: str, payload: bytes) -> None:
        try:
            command = command_pb2.Command.FromString(payload)
        except DecodeError:
            self._drop(topic, "not a Command")
            return
        if command.name != name or not command.request_id:
            self._drop(topic, f"Command name {command.name!r} or request_id missing/mismatched")
            return
        if command.HasField("expire_time") and command.expire_time.ToDatetime(dt.UTC) < (
            self._clock()
        ):
            logger.info("command %s %s expired before it arrived", name, command.request_id)
            self._answer(command, command_pb2.COMMAND_STATUS_EXPIRED, "expired before delivery")
            return
        with self._lock:
            handler = self._commands.get(name)
        if handler is None:
            logger.warning("unknown command %s (%s)", name, command.request_id)
            self._answer(command, command_pb2.COMMAND_STATUS_REJECTED, "unknown command")
            return
        handler(command)

    def _answer(
        self, command: command_pb2.Command, status: command_pb2.CommandStatus, message: str
    ) -> None:
        result = command_pb2.CommandResult(
            request_id=command.request_id, name=command.name, status=status, message=message
        )
        result.time.FromDatetime(self._clock())
        self._reply(result)
