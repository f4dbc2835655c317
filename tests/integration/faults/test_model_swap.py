"""Deploying a model to the real agent on the real services, while it streams footage.

The cloud (MQTT bridge and ingest server on PostgreSQL, S3 and Mosquitto) holds a model version
uploaded and signed with an operator key by `python -m cloud models`: the same NanoDet-g ONNX
re-signed as version 2, and a re-saved variant of it (other bytes, same graph) as version 3.
`python -m edge run` plays vtest.avi in real time (twenty seconds of it for the device that is
offline when assigned), trusting that operator's key. An assignment made mid-stream reaches the
agent as its retained desired state; it downloads the model through the expiring S3 URL,
verifies and warms it up, and swaps it in between two frames: its DEBUG log names the model of
every frame, so the test checks by frame index that no frame was skipped and that each frame
found what the same model finds on it offline. A second version whose stored bytes were altered
in S3 is refused, with the reason reported and stored, while version 2 runs on. A device that is
offline when it is assigned a model converges as soon as it connects.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import pytest
import yaml

from edge.detectors.ort import OrtDetector
from edge.detectors.preprocess import Preprocessor
from models.detection import to_detections
from tests.edge.nanodet import built_model, detector_settings
from tests.footage.clips import VTEST
from tests.integration.faults.harness import Agent, Deployment, wait_for
from tests.signed_models import manifest_for

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

_FRAME = re.compile(
    r"camera \S+ frame (?P<index>\d+): (?P<detections>\d+) detections, \d+ track updates "
    r"\(model (?P<name>\S+) (?P<version>\S+)\)"
)
_TAKEOVER = re.compile(r"camera \S+: model \S+ (?P<version>\S+) takes over at frame (?P<frame>\d+)")


def operator_key(deployment: Deployment) -> str:
    """Make an operator key with `models keygen`; return its public key text."""
    key = deployment.directory / "operator.pem"
    out = deployment.cloud.command("models", "keygen", "--out", str(key), "--label", "test")
    found = re.search(r"ed25519:\S+", out)
    assert found is not None, out
    return found[0]


def variant(directory: Path, note: str) -> Path:
    """The built NanoDet-g file re-saved with another doc string: other bytes (another sha256),
    the same graph and weights, as a re-export would be."""
    model = onnx.load(built_model())
    model.doc_string = note
    path = directory / f"nanodet-g-{hashlib.sha256(note.encode()).hexdigest()[:8]}.onnx"
    onnx.save(model, path)
    return path


def upload(deployment: Deployment, version: str, onnx_file: Path | None = None) -> dict[str, Any]:
    """The built NanoDet-g file (or `onnx_file`) with a manifest naming `version`, signed and
    uploaded."""
    onnx_path = onnx_file or built_model()
    manifest = deployment.directory / f"nanodet-g-{version}.toml"
    manifest.write_bytes(manifest_for(onnx_path.read_bytes(), version))
    out = deployment.cloud.command(
        "models", "upload", "--onnx", str(onnx_path), "--manifest", str(manifest),
        "--key", str(deployment.directory / "operator.pem"), "--json",
    )  # fmt: skip
    uploaded: dict[str, Any] = json.loads(out)
    return uploaded


def assign(deployment: Deployment, version: str) -> None:
    device = deployment.enrolment.device_id
    deployment.cloud.command(
        "models", "assign", "nanodet-g", version, "--device", device, "--reason", "test"
    )


def status(deployment: Deployment) -> dict[str, Any]:
    out = deployment.cloud.command(
        "models", "status", "--device", deployment.enrolment.device_id, "--json"
    )
    found: dict[str, Any] = json.loads(out)
    return found


def reported(deployment: Deployment, generation: int) -> dict[str, Any]:
    """Wait until the stored reported state is at `generation`; return the status."""

    def check() -> dict[str, Any] | None:
        found = status(deployment)
        at = found["reported"]
        return found if at is not None and at["generation"] >= generation else None

    return wait_for(check, f"reported generation {generation}", timeout_s=60, poll_s=1.0)


def trusting(agent: Agent, public_key: str) -> Agent:
    """The agent's config with the operator's key trusted and a models folder of its own."""
    config = yaml.safe_load(agent.config.read_text(encoding="utf-8"))
    config["deploy"] = {
        "trusted_keys": [public_key],
        "models_dir": str(agent.config.parent / "models"),
    }
    agent.config.write_text(yaml.safe_dump(config), encoding="utf-8")
    return agent


def frames(agent: Agent) -> list[re.Match[str]]:
    return agent.messages(_FRAME.pattern)


def offline_detections(clip: Path, indices: set[int]) -> dict[int, int]:
    """What the same model finds on these frames of the clip, run here, outside the agent."""
    detector = OrtDetector(detector_settings(threads=1))
    preprocess = Preprocessor(detector.spec)
    found: dict[int, int] = {}
    capture = cv2.VideoCapture(str(clip))
    index = 0
    while indices - found.keys():
        ok, image = capture.read()
        assert ok, f"the clip ended before frame {min(indices - found.keys())}"
        if index in indices:
            tensor, transform = preprocess(np.asarray(image, dtype=np.uint8))
            raw = detector.detect(tensor)
            found[index] = len(to_detections(raw, transform, detector.spec.labels))
        index += 1
    capture.release()
    return found


def test_the_agent_swaps_its_detector_mid_stream_without_losing_a_frame_and_refuses_a_tampered_one(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    public_key = operator_key(deployment)
    uploaded = upload(deployment, "2")
    tampered = upload(deployment, "3", variant(deployment.directory, "re-exported as 3"))
    deployment.cloud.start("ingest", "bridge")
    # The whole of vtest.avi (80 s in real time): room for two assignments while it streams.
    deployment.clip = VTEST
    agent = trusting(deployment.agent(), public_key)
    agent.start()
    agent.at_frame(40)
    assign(deployment, "2")
    first = reported(deployment, 1)
    assert first["reported"]["error"] == ""
    assert first["drift"] == "converged"
    assert [(c["name"], c["version"]) for c in first["reported"]["cameras"]] == [("nanodet-g", "2")]
    (takeover,) = agent.messages(_TAKEOVER.pattern)
    swap_frame = int(takeover["frame"])

    # Version 3's bytes are altered in the store after it was signed and uploaded.
    deployment.stores.flip_a_byte(tampered["object_key"])
    assign(deployment, "3")
    refused = reported(deployment, 2)
    assert "tampered" in refused["reported"]["error"]
    assert refused["drift"] == "failed"
    assert [(c["name"], c["version"]) for c in refused["reported"]["cameras"]] == [
        ("nanodet-g", "2")
    ]
    drift = json.loads(deployment.cloud.command("models", "drift", "--json"))
    assert [item["device"] for item in drift] == [deployment.enrolment.device_id]
    agent.wait()

    lines = frames(agent)
    indices = [int(line["index"]) for line in lines]
    models = [line["version"] for line in lines]
    # Every frame the camera samples (5 of the clip's 10 fps) was run through a detector once,
    # in order, none skipped: the source falls behind rather than skipping.
    step = indices[1] - indices[0]
    assert indices == list(range(0, indices[-1] + 1, step)), "a frame was skipped or repeated"
    assert indices[-1] >= 790
    # Version 1 up to the swap, version 2 from it on; version 3 never ran.
    position = indices.index(swap_frame)
    assert set(models[:position]) == {"1"} and set(models[position:]) == {"2"}
    assert len(agent.messages(_TAKEOVER.pattern)) == 1
    # Around the swap every frame found what the same model finds on it offline.
    around = set(indices[max(0, position - 10) : position + 10])
    expected = offline_detections(deployment.clip, around)
    logged = {int(line["index"]): int(line["detections"]) for line in lines}
    assert {index: logged[index] for index in sorted(around)} == expected
    assert uploaded["sha256"] == hashlib.sha256(built_model().read_bytes()).hexdigest()
    with capsys.disabled():
        print(
            f"\nmodel swap: frames {len(indices)} (one in {step} of the clip), swapped at "
            f"frame {swap_frame}, detections around it {sum(expected.values())}, "
            f"tampered version refused: {refused['reported']['error'][:60]}"
        )


def test_a_device_offline_when_it_is_assigned_a_model_converges_when_it_connects(
    deployment: Deployment,
) -> None:
    public_key = operator_key(deployment)
    upload(deployment, "2")
    deployment.cloud.start("ingest", "bridge")
    assign(deployment, "2")
    wait_for(
        lambda: status(deployment)["drift"] == "pending", "desired state published", timeout_s=30
    )
    agent = trusting(deployment.agent(), public_key)
    agent.start()
    converged = reported(deployment, 1)
    assert converged["drift"] == "converged"
    assert [(c["name"], c["version"]) for c in converged["reported"]["cameras"]] == [
        ("nanodet-g", "2")
    ]
    agent.wait()
    versions = {line["version"] for line in frames(agent)[-20:]}
    assert versions == {"2"}
