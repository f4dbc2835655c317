"""edge.deploy.agent.Deployer on the real NanoDet-g model served over HTTP: a signed model is
downloaded, verified, prepared, warmed up and swapped in; anything else is refused with its
reason while the running model carries on."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge.deploy.agent import REPORT_STATE, Deployer, DeploySettings
from edge.deploy.download import DownloadSettings
from edge.deploy.swap import LoadedModel, ModelSlot
from edge.deploy.upgrade import AgentUpgradeSettings
from edge.detectors.fake import FakeDetector
from edge.records import ModelRef
from sightline.backoff import BackoffSettings
from sightline.device.v1 import command_pb2, state_pb2
from sightline.device.v1.topics import Downstream, DownstreamTopic
from tests.edge.nanodet import built_model, detector_settings
from tests.signed_models import Artifact, Operator, signed

WAIT_S = 30.0
DESIRED = DownstreamTopic(Downstream.DESIRED)


@dataclass
class Served:
    """What the test HTTP server answers, and how often it was asked."""

    body: bytes = b""
    status: int = 200
    hits: int = 0


@pytest.fixture
def served() -> Iterator[tuple[Served, str]]:
    content = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            content.hits += 1
            self.send_response(content.status)
            self.send_header("Content-Length", str(len(content.body)))
            self.end_headers()
            self.wfile.write(content.body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield content, f"http://127.0.0.1:{server.server_port}/model.onnx?sig=x"
    server.shutdown()
    server.server_close()


@dataclass
class Reports:
    states: queue.Queue[state_pb2.ReportedState] = field(default_factory=queue.Queue)
    results: queue.Queue[command_pb2.CommandResult] = field(default_factory=queue.Queue)

    def publish_reported(self, state: state_pb2.ReportedState) -> bool:
        self.states.put(state)
        return True

    def publish_command_result(self, result: command_pb2.CommandResult) -> bool:
        self.results.put(result)
        return True

    def next_state(self) -> state_pb2.ReportedState:
        return self.states.get(timeout=WAIT_S)


@dataclass
class Device:
    deployer: Deployer
    slot: ModelSlot
    running: LoadedModel
    reports: Reports


@pytest.fixture(scope="module")
def operator() -> Operator:
    return Operator.new()


@pytest.fixture(scope="module")
def artifact(operator: Operator) -> Artifact:
    return signed(operator, built_model().read_bytes(), "2")


def make_device(
    operator: Operator, models_dir: Path, agent_upgrade: AgentUpgradeSettings | None = None
) -> tuple[Device, Callable[[], None]]:
    """A deployer over one camera slot running a fake model, and a thread taking models
    between "frames" as a pipeline does; returns it and its teardown."""
    running = LoadedModel(FakeDetector([]), ModelRef("fake", "1"), "0" * 64)
    slot = ModelSlot(running)
    settings = DeploySettings(
        trusted_keys=(operator.public_text,),
        download=DownloadSettings(
            timeout_s=5, attempts=2, backoff=BackoffSettings(initial_s=0.01, max_s=0.01)
        ),
        swap_timeout_s=5,
        agent_upgrade=agent_upgrade,
    )
    deployer = Deployer(
        settings,
        detector_settings(),
        {"cam-1": slot},
        {"cam-1": ("person",)},
        models_dir=models_dir,
    )
    reports = Reports()
    deployer.attach(reports)
    deployer.start()
    camera_stop = threading.Event()

    def camera() -> None:
        index = 0
        while not camera_stop.wait(0.01):
            slot.take(index)
            index += 1

    thread = threading.Thread(target=camera, daemon=True)
    thread.start()

    def teardown() -> None:
        camera_stop.set()
        thread.join()
        deployer.close()

    return Device(deployer, slot, running, reports), teardown


@pytest.fixture
def device(operator: Operator, tmp_path: Path) -> Iterator[Device]:
    made, teardown = make_device(operator, tmp_path / "models")
    yield made
    teardown()


def desired(generation: int, artifact: Artifact, url: str, **changes: object) -> bytes:
    state = state_pb2.DesiredState(generation=generation)
    entry = state.cameras.add(
        camera_id="",
        sha256=artifact.sha256,
        url=url,
        size=len(artifact.onnx),
        manifest=artifact.manifest,
        signature=artifact.signature,
        key_id=artifact.key_id,
    )
    entry.model.name, entry.model.version = artifact.name, artifact.version
    for key, value in changes.items():
        setattr(entry, key, value)
    return state.SerializeToString()


def running(state: state_pb2.ReportedState) -> list[tuple[str, str, str]]:
    return [(c.camera_id, c.model.name, c.model.version) for c in state.cameras]


def test_a_signed_model_is_fetched_verified_and_swapped_in(
    device: Device, artifact: Artifact, served: tuple[Served, str], tmp_path: Path
) -> None:
    content, url = served
    content.body = artifact.onnx
    device.deployer.on_message(DESIRED, desired(1, artifact, url))
    report = device.reports.next_state()
    assert (report.generation, report.error) == (1, "")
    assert running(report) == [("cam-1", "nanodet-g", "2")]
    assert device.slot.current.ref == ModelRef("nanodet-g", "2")
    assert (tmp_path / "models" / artifact.sha256 / "model.onnx").read_bytes() == artifact.onnx
    # The retained copy again (a reconnect): nothing to do, nothing downloaded, reported again.
    device.deployer.on_message(DESIRED, desired(1, artifact, url))
    assert device.reports.next_state().generation == 1
    assert content.hits == 1


def test_a_tampered_artifact_is_refused_with_the_reason_and_the_old_model_runs_on(
    device: Device, artifact: Artifact, served: tuple[Served, str]
) -> None:
    content, url = served
    tampered = bytearray(artifact.onnx)
    tampered[len(tampered) // 2] ^= 0x01
    content.body = bytes(tampered)
    device.deployer.on_message(DESIRED, desired(1, artifact, url))
    report = device.reports.next_state()
    assert report.generation == 1
    assert "tampered" in report.error
    assert running(report) == [("cam-1", "fake", "1")]
    assert device.slot.current is device.running
    # The same generation, delivered again with good bytes behind its URL, is applied.
    content.body = artifact.onnx
    device.deployer.on_message(DESIRED, desired(1, artifact, url))
    report = device.reports.next_state()
    assert (report.generation, report.error) == (1, "")
    assert running(report) == [("cam-1", "nanodet-g", "2")]


def test_an_unsigned_model_is_refused(
    device: Device, artifact: Artifact, served: tuple[Served, str]
) -> None:
    content, url = served
    content.body = artifact.onnx
    device.deployer.on_message(DESIRED, desired(1, artifact, url, signature=b""))
    report = device.reports.next_state()
    assert "unsigned" in report.error
    assert device.slot.current is device.running


def test_a_signed_model_that_does_not_load_never_replaces_the_running_one(
    device: Device, operator: Operator, served: tuple[Served, str]
) -> None:
    content, url = served
    broken = signed(operator, b"\x08\x07 signed, but not an ONNX model", "3")
    content.body = broken.onnx
    device.deployer.on_message(DESIRED, desired(1, broken, url))
    report = device.reports.next_state()
    assert "does not load" in report.error
    assert device.slot.current is device.running


def test_an_expired_url_is_reported(
    device: Device, artifact: Artifact, served: tuple[Served, str]
) -> None:
    content, url = served
    content.status = 403
    device.deployer.on_message(DESIRED, desired(1, artifact, url))
    report = device.reports.next_state()
    assert "HTTP 403" in report.error
    assert content.hits == 1  # a 4xx is not retried


def test_report_state_answers_once_per_request_and_not_after_expiry(device: Device) -> None:
    command = command_pb2.Command(name=REPORT_STATE, request_id="r-1")
    topic = DownstreamTopic(Downstream.COMMAND, REPORT_STATE)
    device.deployer.on_message(topic, command.SerializeToString())
    device.deployer.on_message(topic, command.SerializeToString())
    first, second = (device.reports.results.get(timeout=WAIT_S) for _ in range(2))
    assert first.status == command_pb2.COMMAND_STATUS_SUCCEEDED
    assert second == first
    assert device.reports.next_state().generation == 0
    assert device.reports.states.empty()  # the repeat did not run again
    late = command_pb2.Command(name=REPORT_STATE, request_id="r-2")
    late.expire_time.FromDatetime(datetime.now(UTC) - timedelta(seconds=1))
    device.deployer.on_message(topic, late.SerializeToString())
    assert device.reports.results.get(timeout=WAIT_S).status == (command_pb2.COMMAND_STATUS_EXPIRED)
    unknown = command_pb2.Command(name="reboot", request_id="r-3")
    device.deployer.on_message(
        DownstreamTopic(Downstream.COMMAND, "reboot"), unknown.SerializeToString()
    )
    assert device.reports.results.get(timeout=WAIT_S).status == (
        command_pb2.COMMAND_STATUS_REJECTED
    )


def test_a_restarted_agent_restores_its_deployed_model_from_disk_without_a_download(
    device: Device,
    operator: Operator,
    artifact: Artifact,
    served: tuple[Served, str],
    tmp_path: Path,
) -> None:
    content, url = served
    content.body = artifact.onnx
    device.deployer.on_message(DESIRED, desired(1, artifact, url))
    assert device.reports.next_state().error == ""
    restarted, teardown = make_device(operator, tmp_path / "models")
    try:
        wait_for_model(restarted.slot, ModelRef("nanodet-g", "2"))
        assert content.hits == 1  # nothing downloaded again
        state = restarted.deployer.reported_state()
        assert (state.generation, state.error) == (1, "")
        # The retained copy arriving on connect is then a repeat.
        restarted.deployer.on_message(DESIRED, desired(1, artifact, url))
        assert restarted.reports.next_state().generation == 1
        assert content.hits == 1
    finally:
        teardown()


def test_a_kept_copy_altered_on_disk_is_not_restored(
    device: Device,
    operator: Operator,
    artifact: Artifact,
    served: tuple[Served, str],
    tmp_path: Path,
) -> None:
    content, url = served
    content.body = artifact.onnx
    device.deployer.on_message(DESIRED, desired(1, artifact, url))
    assert device.reports.next_state().error == ""
    kept = tmp_path / "models" / artifact.sha256 / "model.onnx"
    data = bytearray(kept.read_bytes())
    data[100] ^= 0x01
    kept.write_bytes(bytes(data))
    restarted, teardown = make_device(operator, tmp_path / "models")
    try:
        restarted.deployer.on_connected()  # reports after the restore was tried
        state = restarted.reports.next_state()
        assert (state.generation, state.error) == (0, "")
        assert restarted.slot.current is restarted.running
        # On connect the retained desired state is applied afresh: downloaded again.
        restarted.deployer.on_message(DESIRED, desired(1, artifact, url))
        assert restarted.reports.next_state().error == ""
        assert content.hits == 2
    finally:
        teardown()


def wait_for_model(slot: ModelSlot, ref: ModelRef) -> None:
    deadline = time.monotonic() + WAIT_S
    while slot.current.ref != ref:
        assert time.monotonic() < deadline, f"the camera never ran {ref}"
        time.sleep(0.05)


def test_a_desired_agent_image_goes_to_the_host_and_a_rolled_back_one_is_reported(
    operator: Operator, tmp_path: Path
) -> None:
    upgrade = AgentUpgradeSettings(
        image="sightline-edge-jetson:0.1.0",
        desired_file=tmp_path / "agent-desired",
        result_file=tmp_path / "upgrade.json",
    )
    new = "sightline-edge-jetson:0.2.0"
    payload = state_pb2.DesiredState(generation=1, agent_image=new).SerializeToString()
    device, teardown = make_device(operator, tmp_path / "models", upgrade)
    try:
        device.deployer.on_message(DESIRED, payload)
        state = device.reports.next_state()
        assert (state.generation, state.error, state.agent_image) == (1, "", upgrade.image)
        assert running(state) == [("cam-1", "fake", "1")]  # the models are left alone
        assert upgrade.desired_file.read_text() == f"{new}\n"
    finally:
        teardown()
    # The host tried the new image, which did not run healthy, and started the old one again.
    upgrade.result_file.write_text(
        f'{{"from": "{upgrade.image}", "to": "{new}", "result": "rolled-back", '
        '"detail": "not healthy within 300s"}'
    )
    upgrade.desired_file.unlink()
    restarted, teardown = make_device(operator, tmp_path / "models", upgrade)
    try:
        restarted.deployer.on_message(DESIRED, payload)  # the retained copy, on connect
        state = restarted.reports.next_state()
        assert state.generation == 1
        assert state.error == (
            f"agent image {new}: rolled-back by the host (not healthy within 300s)"
        )
        assert not upgrade.desired_file.exists()
    finally:
        teardown()
