from __future__ import annotations

import datetime as dt
import logging

import pytest

from edge.transport.downstream import DownstreamRouter
from sightline.device.v1 import command_pb2, state_pb2
from sightline.device.v1.topics import DeviceTopics

TOPICS = DeviceTopics(prefix="sightline", site="lobby", device="box-1")
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


class Recorder:
    def __init__(self) -> None:
        self.commands: list[command_pb2.Command] = []
        self.desired: list[state_pb2.DesiredState] = []
        self.replies: list[command_pb2.CommandResult] = []


@pytest.fixture
def seen() -> Recorder:
    return Recorder()


@pytest.fixture
def router(seen: Recorder) -> DownstreamRouter:
    router = DownstreamRouter(TOPICS, seen.replies.append, clock=lambda: NOW)
    router.on_command("restart", seen.commands.append)
    router.on_desired(seen.desired.append)
    return router


def command(name: str = "restart", request_id: str = "req-1", **fields: object) -> bytes:
    return command_pb2.Command(name=name, request_id=request_id, **fields).SerializeToString()  # type: ignore[arg-type]


def test_a_command_reaches_its_handler(router: DownstreamRouter, seen: Recorder) -> None:
    router.dispatch(TOPICS.command("restart"), command())
    assert [(c.name, c.request_id) for c in seen.commands] == [("restart", "req-1")]
    assert seen.replies == []


def test_the_desired_state_reaches_its_handler(router: DownstreamRouter, seen: Recorder) -> None:
    payload = state_pb2.DesiredState(generation=4, config_version="c7").SerializeToString()
    router.dispatch(TOPICS.desired, payload)
    assert [(d.generation, d.config_version) for d in seen.desired] == [(4, "c7")]


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        (TOPICS.command("restart"), b"\xff\xfe garbage", "not a Command"),
        (TOPICS.command("restart"), command(name="reboot"), "name 'reboot'"),
        (TOPICS.command("restart"), command(request_id=""), "request_id missing"),
        (TOPICS.desired, b"\x08", "not a DesiredState"),
        (TOPICS.desired, state_pb2.DesiredState(config_version="x").SerializeToString(), "without"),
    ],
)
def test_a_malformed_payload_is_logged_with_its_topic_counted_and_survived(
    router: DownstreamRouter,
    seen: Recorder,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: bytes,
    why: str,
) -> None:
    with caplog.at_level(logging.WARNING):
        router.dispatch(topic, payload)
    assert router.malformed == 1
    assert (seen.commands, seen.desired) == ([], [])
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith(f"dropping malformed message on {topic}: ")
    assert why in record.getMessage()
    # The router still works afterwards.
    router.dispatch(TOPICS.command("restart"), command())
    assert len(seen.commands) == 1


def test_an_empty_retained_desired_state_is_a_clear_not_an_error(
    router: DownstreamRouter, seen: Recorder
) -> None:
    router.dispatch(TOPICS.desired, b"")
    assert (router.malformed, seen.desired) == (0, [])


def test_a_handler_that_raises_is_logged_and_contained(
    router: DownstreamRouter, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: command_pb2.Command) -> None:
        raise RuntimeError("handler bug")

    router.on_command("snapshot", broken)
    router.dispatch(TOPICS.command("snapshot"), command(name="snapshot"))
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == f"handler for {TOPICS.command('snapshot')} failed"
    assert record.exc_info is not None


def test_an_unknown_command_is_answered_rejected(router: DownstreamRouter, seen: Recorder) -> None:
    router.dispatch(TOPICS.command("format_disk"), command(name="format_disk", request_id="r9"))
    [reply] = seen.replies
    assert (reply.name, reply.request_id, reply.status) == (
        "format_disk",
        "r9",
        command_pb2.COMMAND_STATUS_REJECTED,
    )
    assert reply.time.ToDatetime(dt.UTC) == NOW


def test_an_expired_command_is_answered_and_not_run(
    router: DownstreamRouter, seen: Recorder
) -> None:
    late = command_pb2.Command(name="restart", request_id="r2")
    late.expire_time.FromDatetime(NOW - dt.timedelta(seconds=1))
    router.dispatch(TOPICS.command("restart"), late.SerializeToString())
    assert seen.commands == []
    assert [r.status for r in seen.replies] == [command_pb2.COMMAND_STATUS_EXPIRED]
    in_time = command_pb2.Command(name="restart", request_id="r3")
    in_time.expire_time.FromDatetime(NOW + dt.timedelta(seconds=1))
    router.dispatch(TOPICS.command("restart"), in_time.SerializeToString())
    assert [c.request_id for c in seen.commands] == ["r3"]


def test_messages_on_foreign_topics_are_ignored(router: DownstreamRouter, seen: Recorder) -> None:
    router.dispatch("sightline/v1/lobby/box-2/cmd/restart", command())
    router.dispatch(TOPICS.command_result("restart"), b"")
    assert (seen.commands, seen.replies, router.malformed) == ([], [], 0)


def test_handlers_are_registered_only_for_valid_names(router: DownstreamRouter) -> None:
    with pytest.raises(ValueError, match="command name"):
        router.on_command("a/b", lambda _: None)
