"""`python -m edge` as an operator runs it: in a subprocess, reading its exit status and output."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.__main__ import main
from edge.accuracy import VOC_DATASET
from models.manifest import read_runtime_manifest
from tests.edge.http_probe import free_port, scrape
from tests.edge.nanodet import MANIFEST, REPO, built_model, tampered_copy
from tests.footage.clips import VTEST, clip_path, source
from tests.models.built_models import unavailable

FIXTURES = Path(__file__).parent / "fixtures"


def edge(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def _env() -> dict[str, str]:
    # The caller's SIGHTLINE_EDGE_* variables would override the test configs.
    return {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLINE_EDGE_")}


def write_config(
    tmp_path: Path, video: Path, manifest: Path = MANIFEST, fps: str = "null", extra: str = ""
) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(
        f"""\
device: {{id: dev-1}}
detector:
  type: ort
  model: {{manifest: {manifest}}}
cameras:
  - id: cam-1
    source: {{url: {video}, fps: {fps}}}
{extra}""",
        encoding="utf-8",
    )
    return path


def test_validate_config_points_at_the_unknown_key() -> None:
    result = edge("validate-config", str(FIXTURES / "unknown-key.yaml"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        "unknown-key.yaml:11: cameras.0.source.fsp: Extra inputs are not permitted"
    )
    assert result.stdout == ""


def test_validate_config_accepts_the_example() -> None:
    result = edge("validate-config", "edge/example.yaml")
    assert result.returncode == 0
    assert result.stdout == "edge/example.yaml: ok\n"


@pytest.mark.slow
def test_run_prints_a_json_summary(tmp_path: Path) -> None:
    built_model()
    result = edge("run", "--config", str(write_config(tmp_path, clip_path("vtest-3s.avi"))))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 30
    assert summary["tracks"] >= 3
    # A crop per track, a second one for a track whose later view beat its first.
    assert summary["tracks"] <= summary["crops_queued"] <= 2 * summary["tracks"]
    assert summary["tracks_interrupted"] == 0
    assert summary["failed_cameras"] == []
    assert "run summary: 30 frames" in result.stderr


@pytest.mark.slow
def test_run_spools_into_the_configured_outbox(tmp_path: Path) -> None:
    built_model()
    outbox = tmp_path / "spool" / "outbox.sqlite"
    extra = f"delivery:\n  outbox: {{path: {outbox}}}\n  drain_timeout_s: 0\n"
    config = write_config(tmp_path, clip_path("vtest-3s.avi"), extra=extra)
    result = edge("run", "--config", str(config), "--max-frames", "10")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["frames"] == 10
    assert summary["crops_queued"] > 0
    from edge.transport.outbox import Outbox, OutboxSettings

    with Outbox(OutboxSettings(path=outbox)) as spool:
        assert spool.depth("crop") == summary["crops_queued"]
        # One final summary per track, and an interim one with each early first crop.
        assert spool.depth("record") >= summary["tracks"]
    # The track journal lives beside the outbox.
    assert (outbox.parent / "outbox.journal.sqlite").is_file()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_corrupt_video_fails_the_run_with_a_readable_message(tmp_path: Path, damage: str) -> None:
    built_model()
    video = tmp_path / "clip.avi"
    original = clip_path("vtest-3s.avi").read_bytes()
    garbage = random.Random(7).randbytes(50_000)
    video.write_bytes(garbage if damage == "garbage" else original[:300_000])
    result = edge("run", "--config", str(write_config(tmp_path, video)))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    # FFmpeg may refuse random bytes outright or "open" them and find no frame: both are clear.
    expected = {
        "garbage": rf"camera cam-1: (cannot open video file {video}|{video} holds no decodable)",
        "truncated": rf"camera cam-1: {video} ended after \d+ of the 30 frames .* truncated",
    }
    assert re.search(expected[damage], result.stderr), result.stderr
    assert json.loads(result.stdout)["failed_cameras"] == ["cam-1"]


def test_health_asks_the_agent_only_when_its_endpoint_is_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the agent's answer is checked in the SIGTERM test, against a running agent.
    video = clip_path("vtest-3s.avi")
    assert main(["health", str(write_config(tmp_path, video))]) == 0
    assert capsys.readouterr().out == (
        f"{tmp_path / 'edge.yaml'}: ok (metrics disabled: only the config was checked)\n"
    )
    port = free_port()  # nothing listens there: no agent
    extra = f"metrics: {{enabled: true, host: 0.0.0.0, port: {port}}}\n"
    assert main(["health", str(write_config(tmp_path, video, extra=extra))]) == 1
    assert f"http://127.0.0.1:{port}/healthz: the agent does not answer" in capsys.readouterr().err


def test_a_tampered_model_fails_the_run_before_any_frame(tmp_path: Path) -> None:
    manifest = tampered_copy(tmp_path)
    config = write_config(tmp_path, clip_path("vtest-3s.avi"), manifest=manifest)
    result = edge("run", "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "was altered or corrupted; refusing to load it" in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_sigterm_stops_the_agent_gracefully(tmp_path: Path) -> None:
    """SIGTERM mid-run: the tracks in progress are ended, their crops and final summaries
    spooled, and the agent exits 0 within the drain timeout; /metrics answers while it runs."""
    built_model()
    outbox = tmp_path / "outbox.sqlite"
    port = free_port()
    extra = (
        f"delivery:\n  outbox: {{path: {outbox}}}\n  drain_timeout_s: 5\n"
        f"metrics: {{enabled: true, port: {port}}}\nlog_format: json\n"
    )
    config = write_config(tmp_path, source(VTEST), extra=extra)  # 795 frames: longer than the test
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert process.stderr is not None
    first_lines = []
    for line in process.stderr:  # wait until frames flow
        first_lines.append(line)
        if "camera cam-1: opened" in line:
            break
    time.sleep(1.0)
    checked = edge("health", str(config))  # the container's HEALTHCHECK
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["cameras"] == {"cam-1": "connected"}
    metrics = scrape(port)
    assert metrics[("sightline_edge_frames_processed_total", (("camera", "cam-1"),))] > 0
    assert metrics[("sightline_edge_camera_connected", (("camera", "cam-1"),))] == 1
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 5 + 5  # the drain timeout, and the model's unloading
    assert process.returncode == 0, stderr
    assert "SIGTERM received: stopping" in stderr
    # JSON log lines name the camera and the lifecycle event, for a log collector to filter.
    logged = [json.loads(line) for line in [*first_lines, *stderr.splitlines()]]
    events = {(r.get("event"), r.get("camera_id")) for r in logged}
    assert {("camera.connected", "cam-1"), ("agent.stopping", None)} <= events
    assert ("agent.stopped", None) in events
    summary = json.loads(stdout)
    assert 0 < summary["frames"] < 795
    # Every live track was ended and cropped (a second crop only for a better later view).
    assert summary["tracks"] <= summary["crops_queued"] <= 2 * summary["tracks"]
    from edge.transport.outbox import Outbox, OutboxSettings
    from sightline.device.v1 import track_pb2
    from sightline.ingest.v1 import ingest_pb2

    with Outbox(OutboxSettings(path=outbox)) as spool:
        records = spool.peek("record", 10_000)
        crops = spool.peek("crop", 10_000)
    ended = {
        summary.track_id
        for summary in (track_pb2.TrackSummary.FromString(r.payload) for r in records
                        if r.type == "track")
        if summary.ended
    }  # fmt: skip
    assert len(ended) == summary["tracks"] > 0
    assert len(crops) == summary["crops_queued"]
    cropped = {ingest_pb2.UploadCropsRequest.FromString(row.payload).track_id for row in crops}
    assert ended <= cropped


def test_accuracy_measures_the_agents_detector_and_records_it(tmp_path: Path) -> None:
    built_model()
    if not VOC_DATASET.is_dir():
        unavailable(f"{VOC_DATASET} is missing: apt-get install labelme-examples")
    manifest = tmp_path / "nanodet-g.toml"
    shutil.copyfile(MANIFEST, manifest)

    result = edge("accuracy", "--manifest", str(manifest), "--score", "0.45", "--record")

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"{manifest}: precision 1.000 recall 0.778 (7 TP, 0 FP, 9 objects) "
        "at score >= 0.45, IoU >= 0.5\n"
    )
    recorded = read_runtime_manifest(manifest).accuracy
    assert recorded is not None and (recorded.precision, recorded.recall) == (1.0, 0.778)
    assert recorded.command == (
        f"uv run python -m edge accuracy --manifest {manifest} --score 0.45 --iou 0.5"
    )


@pytest.mark.parametrize(
    ("manifest", "dataset", "message"),
    [
        ("mobilenetv2-reid.toml", VOC_DATASET, "does not describe a detector this agent can run"),
        ("nanodet-g.toml", Path("no-such-dir"), "no VOC annotations under no-such-dir"),
    ],
    ids=["not a detector", "no data set"],
)
def test_accuracy_failures_are_one_readable_line(
    manifest: str, dataset: Path, message: str
) -> None:
    if manifest == MANIFEST.name:
        built_model()

    result = edge(
        "accuracy", "--manifest", str(MANIFEST.parent / manifest), "--dataset", str(dataset)
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert result.stdout == ""
