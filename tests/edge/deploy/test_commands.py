"""edge.deploy.commands: one answer per request id, no command run after its expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.deploy.commands import CommandLog, expired
from sightline.device.v1 import command_pb2


def test_a_repeated_request_gets_the_earlier_result() -> None:
    log = CommandLog(capacity=2)
    first = command_pb2.CommandResult(request_id="a", name="report_state")
    log.remember(first)
    assert log.earlier("a") is first
    assert log.earlier("b") is None


def test_the_log_forgets_the_oldest_beyond_its_capacity() -> None:
    log = CommandLog(capacity=2)
    for request_id in ("a", "b", "c"):
        log.remember(command_pb2.CommandResult(request_id=request_id))
    assert log.earlier("a") is None
    assert log.earlier("b") is not None and log.earlier("c") is not None


def test_a_command_expires_after_its_expire_time_only() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    command = command_pb2.Command(name="report_state", request_id="a")
    assert not expired(command, now)  # no expiry set
    command.expire_time.FromDatetime(now - timedelta(seconds=1))
    assert expired(command, now)
    command.expire_time.FromDatetime(now + timedelta(seconds=1))
    assert not expired(command, now)
