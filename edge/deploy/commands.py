"""Commands from the cloud (`sightline.device.v1.Command`): dedupe and expiry, pure.

QoS 1 may deliver a command twice: `CommandLog` remembers the results of recent request ids
(bounded, oldest forgotten first) and answers a repeat with the earlier result without running
it again. A command received after its `expire_time` is not run (`COMMAND_STATUS_EXPIRED`).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from sightline.device.v1 import command_pb2


class CommandLog:
    """Results of the last `capacity` commands by request id. Not thread-safe: one thread
    handles commands."""

    def __init__(self, capacity: int = 256) -> None:
        self._capacity = capacity
        self._results: OrderedDict[str, command_pb2.CommandResult] = OrderedDict()

    def earlier(self, request_id: str) -> command_pb2.CommandResult | None:
        """The result already given to `request_id`, or None."""
        return self._results.get(request_id)

    def remember(self, result: command_pb2.CommandResult) -> None:
        """Keep `result` for repeats of its request id."""
        self._results[result.request_id] = result
        self._results.move_to_end(result.request_id)
        while len(self._results) > self._capacity:
            self._results.popitem(last=False)


def expired(command: command_pb2.Command, now: datetime) -> bool:
    """Whether `command` arrived after its expire_time (never, when none is set)."""
    return command.HasField("expire_time") and command.expire_time.ToDatetime(now.tzinfo) < now
