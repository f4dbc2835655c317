"""cloud.deploy.services: generations, publishing, reported state and drift."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from cloud.deploy.models import (
    DesiredState,
    DesiredStateChange,
    DeviceCommand,
    ModelVersion,
    ReportedState,
)
from cloud.deploy.publisher import DesiredPublisher
from cloud.deploy.services import (
    REPORT_STATE,
    Drift,
    ReportedCamera,
    assign_agent_image,
    assign_model,
    deployment,
    desired_message,
    drift,
    mark_published,
    pending,
    record_reported_state,
    refresh_expired_urls,
    republish,
    send_command,
)
from cloud.errors import InvalidInput, NotFound
from sightline.device.v1 import command_pb2, state_pb2
from tests.signed_models import Artifact

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def report(device_id: str, seq: int, generation: int, error: str = "") -> bool:
    return record_reported_state(
        device_id,
        seq=seq,
        generation=generation,
        config_version="",
        cameras=[ReportedCamera("cam-1", "nanodet-g", "2")],
        error=error,
        reported_at=T0,
        received_at=T0,
    )


def test_each_assignment_raises_the_generation_by_one_and_is_recorded(
    devices: list[str], version: ModelVersion
) -> None:
    assert assign_model(devices[:2], version, actor="alice", reason="canary") == {
        "gate-01": 1,
        "gate-02": 1,
    }
    assert assign_model(["gate-01"], version, actor="bob", reason="again") == {"gate-01": 2}
    state = DesiredState.objects.get(pk="gate-01")
    assert (state.generation, state.cameras, state.changed_by) == (2, {"": version.pk}, "bob")
    history = DesiredStateChange.objects.filter(device_id="gate-01").order_by("generation")
    assert [(c.generation, c.changed_by, c.reason) for c in history] == [
        (1, "alice", "canary"),
        (2, "bob", "again"),
    ]


def test_a_camera_can_get_its_own_model(devices: list[str], version: ModelVersion) -> None:
    assign_model(["gate-01"], version, actor="a", reason="all")
    assign_model(["gate-01"], version, cameras=["cam-2"], actor="a", reason="one")
    assert DesiredState.objects.get(pk="gate-01").cameras == {"": version.pk, "cam-2": version.pk}


def test_an_unknown_device_changes_nothing(devices: list[str], version: ModelVersion) -> None:
    with pytest.raises(NotFound, match="nope"):
        assign_model(["gate-01", "nope"], version, actor="a", reason="r")
    assert not DesiredState.objects.exists()


def test_the_desired_message_carries_what_the_device_needs_to_fetch_and_verify(
    devices: list[str], version: ModelVersion, artifact: Artifact
) -> None:
    assign_model(["gate-01"], version, actor="a", reason="r")
    message, expires_at = desired_message(DesiredState.objects.get(pk="gate-01"))
    assert message.generation == 1
    (camera,) = message.cameras
    assert camera.camera_id == ""
    assert (camera.model.name, camera.model.version) == ("nanodet-g", "2")
    assert (camera.sha256, camera.size) == (artifact.sha256, len(artifact.onnx))
    assert (camera.signature, camera.key_id) == (artifact.signature, artifact.key_id)
    assert camera.manifest == artifact.manifest
    assert camera.url.startswith("http://testserver/objects/models/")
    assert camera.url_expire_time.ToDatetime(UTC) == expires_at


def test_the_publisher_sends_each_pending_generation_retained_until_acknowledged(
    devices: list[str], version: ModelVersion
) -> None:
    assign_model(["gate-01", "yard-01"], version, actor="a", reason="r")
    sent: list[tuple[str, bytes]] = []
    broker_up = False

    def publish(messages: Sequence[tuple[str, bytes, bool]]) -> list[bool]:
        assert all(retain for _, _, retain in messages), "a desired state is retained"
        if broker_up:
            sent.extend((topic, payload) for topic, payload, _ in messages)
        return [broker_up] * len(messages)

    publisher = DesiredPublisher(publish, "sightline")
    assert publisher.publish_pending() == 0  # broker down: still pending
    assert len(pending((), 10)) == 2
    broker_up = True
    assert publisher.publish_pending() == 2
    assert sorted(topic for topic, _ in sent) == [
        "sightline/v1/default/yard-01/desired",
        "sightline/v1/hq/gate-01/desired",
    ]
    assert state_pb2.DesiredState.FromString(sent[0][1]).generation == 1
    assert publisher.publish_pending() == 0
    assert republish(["gate-01"]) == 1
    assert publisher.publish_pending() == 1


def test_a_pass_sends_its_desired_states_together_and_marks_only_the_acknowledged(
    devices: list[str], version: ModelVersion
) -> None:
    # Together, so that the bridge need not wait for each PUBACK before sending the next.
    assign_model(devices, version, actor="a", reason="r")
    batches: list[list[str]] = []

    def publish(messages: Sequence[tuple[str, bytes, bool]]) -> list[bool]:
        batches.append([topic.split("/")[3] for topic, _, _ in messages])
        return [not topic.endswith("/gate-02/desired") for topic, _, _ in messages]

    assert DesiredPublisher(publish, "sightline").publish_pending() == 2
    assert [sorted(batch) for batch in batches] == [["gate-01", "gate-02", "yard-01"]]
    assert [state.device_id for state in pending((), 10)] == ["gate-02"]


def test_a_bridge_publishes_only_for_its_sites(devices: list[str], version: ModelVersion) -> None:
    assign_model(devices, version, actor="a", reason="r")
    assert {state.device_id for state in pending(["hq"], 10)} == {"gate-01", "gate-02"}
    assert {state.device_id for state in pending(["default"], 10)} == {"yard-01"}


def test_a_late_publish_of_an_older_generation_leaves_the_newer_pending(
    devices: list[str], version: ModelVersion
) -> None:
    assign_model(["gate-01"], version, actor="a", reason="r")
    assign_model(["gate-01"], version, actor="a", reason="r")
    mark_published("gate-01", 1, None)
    assert [state.generation for state in pending((), 10)] == [2]


def test_urls_about_to_expire_are_refreshed_when_the_device_comes_back(
    devices: list[str], version: ModelVersion
) -> None:
    assign_model(["gate-01", "gate-02"], version, actor="a", reason="r")
    mark_published("gate-01", 1, timezone.now() + timedelta(minutes=1))
    mark_published("gate-02", 1, timezone.now() + timedelta(hours=1))
    assert refresh_expired_urls("gate-01")
    assert not refresh_expired_urls("gate-02")
    assert [state.device_id for state in pending((), 10)] == ["gate-01"]


def test_drift_follows_what_the_devices_report(devices: list[str], version: ModelVersion) -> None:
    assign_model(devices, version, actor="a", reason="r")
    mark_published("gate-01", 1, None)
    mark_published("gate-02", 1, None)
    report("gate-01", seq=5, generation=1)
    report("gate-02", seq=5, generation=1, error="artifact sha256 differs: tampered")
    states = {item.device_id: item.drift for item in drift()}
    assert states == {"gate-02": Drift.FAILED, "yard-01": Drift.UNPUBLISHED}
    found = deployment("gate-01")
    assert found is not None and found.drift is Drift.CONVERGED
    mark_published("yard-01", 1, None)
    assert {item.device_id: item.drift for item in drift()}["yard-01"] is Drift.PENDING


def test_an_older_report_is_ignored(devices: list[str]) -> None:
    assert report("gate-01", seq=5, generation=2)
    assert not report("gate-01", seq=4, generation=1)
    assert not report("gate-01", seq=5, generation=1)
    assert ReportedState.objects.get(pk="gate-01").generation == 2


def test_a_report_from_an_unknown_device_is_refused(db: None) -> None:
    with pytest.raises(NotFound):
        report("nope", seq=1, generation=1)


@pytest.mark.parametrize(("seq", "generation"), [(2**63, 1), (1, 2**63), (0, 1)])
def test_numbers_the_database_cannot_hold_are_refused(
    devices: list[str], seq: int, generation: int
) -> None:
    # Found by the bridge fuzzer: a uint64 generation above 2**63 - 1 crashed the insert.
    with pytest.raises(InvalidInput, match="must lie in"):
        report("gate-01", seq=seq, generation=generation)
    assert not ReportedState.objects.filter(pk="gate-01").exists()


def test_a_command_is_published_once_not_retained_and_not_after_it_expired(
    devices: list[str],
) -> None:
    sent: list[tuple[str, command_pb2.Command, bool]] = []

    def publish(messages: Sequence[tuple[str, bytes, bool]]) -> list[bool]:
        sent.extend(
            (topic, command_pb2.Command.FromString(payload), retain)
            for topic, payload, retain in messages
        )
        return [True] * len(messages)

    ids = send_command(["gate-01"], REPORT_STATE, ttl=timedelta(minutes=5), actor="ops")
    send_command(["gate-02"], REPORT_STATE, ttl=timedelta(seconds=-1), actor="ops")
    publisher = DesiredPublisher(publish, "sightline", ["hq"])
    assert publisher.publish_pending() == 1
    ((topic, command, retain),) = sent
    assert topic == "sightline/v1/hq/gate-01/cmd/report_state"
    assert (command.name, command.request_id, retain) == (REPORT_STATE, ids["gate-01"], False)
    assert command.expire_time.ToDatetime(UTC) > datetime.now(UTC)
    assert publisher.publish_pending() == 0
    assert DeviceCommand.objects.get(pk=ids["gate-01"]).published_at is not None


def test_a_command_needs_known_devices_and_a_name_that_is_a_topic_level(
    devices: list[str],
) -> None:
    with pytest.raises(NotFound, match="nope"):
        send_command(["nope"], REPORT_STATE, ttl=timedelta(minutes=1), actor="ops")
    with pytest.raises(InvalidInput, match="command name"):
        send_command(["gate-01"], "a/b", ttl=timedelta(minutes=1), actor="ops")
    assert not DeviceCommand.objects.exists()


def test_an_agent_image_is_a_generation_of_its_own_and_keeps_the_models(
    devices: list[str], version: ModelVersion
) -> None:
    assign_model(["gate-01"], version, actor="alice", reason="model")
    image = "sightline-edge-jetson:0.2.0"
    assert assign_agent_image(["gate-01"], image, actor="bob", reason="agent") == {"gate-01": 2}
    state = DesiredState.objects.get(pk="gate-01")
    assert (state.cameras, state.agent_image) == ({"": version.pk}, image)
    change = DesiredStateChange.objects.get(device_id="gate-01", generation=2)
    assert (change.agent_image, change.changed_by) == (image, "bob")
    message, _ = desired_message(state)
    assert (message.generation, message.agent_image, len(message.cameras)) == (2, image, 1)
    assign_model(["gate-01"], version, actor="alice", reason="model again")
    assert DesiredState.objects.get(pk="gate-01").agent_image == image


def test_an_agent_image_needs_a_version_tag(devices: list[str]) -> None:
    with pytest.raises(InvalidInput, match="with a tag"):
        assign_agent_image(["gate-01"], "sightline-edge-jetson", actor="bob", reason="agent")
    assert not DesiredState.objects.exists()
