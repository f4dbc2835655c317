"""Eight cameras on one agent, one RTSP camera killed and restored: nothing else stalls, nothing
is lost.

The edge agent (`python -m edge run`, a real process, one thread per camera sharing one
NanoDet-g) runs six file cameras played at the video's own rate, as cameras deliver (five on
vtest.avi, one on a 20-second clip of it), and two RTSP cameras, each its own GStreamer RTSP
server (`tests.services.rtsp_server`, H.264 over TCP, with credentials). It delivers over MQTT
to Mosquitto and over gRPC to `python -m cloud ingest_grpc` on PostgreSQL and S3, and the MQTT
bridge records its heartbeats and events. Once the cloud holds a detection of RTSP camera
`door-0`, its server is killed (SIGKILL, a power cut) and started again seconds later. Then:

- `door-0` noticed (camera.disconnected), reconnected (camera.connected), in the cloud's events,
  and the cloud has its detections from before the kill and after the restart;
- every other camera kept processing frames while `door-0` was down (the agent's per-frame
  records, polled during the outage) and the cloud's heartbeats say so;
- every crop and every track the agent spooled, all cameras, is in the cloud's database under
  the id the edge gave it, and nothing else is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.cloud.ingest.processes import Background, device_cloud, run_cloud
from tests.edge.agent_log import AgentLog
from tests.footage.clips import VTEST, clip_path
from tests.integration.agent import AGENT, agent_config, agent_env
from tests.services.contract import MqttBroker
from tests.services.rtsp_server import RtspServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FPS = 2.0
KILLED = "door-0"
FILES = [f"lobby-{i}" for i in range(5)]
"""File cameras on the whole of vtest.avi (79 s): they outlast the test."""
CLIP = "yard"
"""The file camera on a 20-second clip: it may end during the outage, so it is left out of the
stall check (its crops and tracks are checked with everyone's)."""
OUTAGE_S = 6.0
_POLL_S = 0.5
_WAIT_S = 45.0


@pytest.fixture
def env(storage_env: dict[str, str], mqtt_broker: MqttBroker, mqtt_site: str) -> dict[str, str]:
    return device_cloud(storage_env, mqtt_broker, mqtt_site)


def cameras(servers: dict[str, RtspServer]) -> list[dict[str, Any]]:
    def file(camera_id: str, video: Path) -> dict[str, Any]:
        return {"id": camera_id, "source": {"url": str(video), "fps": FPS, "realtime": True}}

    live = [
        {"id": camera_id, "source": server.agent_source(FPS, timeout_s=2.0, backoff_s=(0.25, 1.0))}
        for camera_id, server in servers.items()
    ]
    files = [file(camera_id, VTEST) for camera_id in FILES]
    return [*live, *files, file(CLIP, clip_path("vtest-20s.avi"))]


def detections_of(database_url: str, camera_id: str) -> list[datetime]:
    """The capture times of the camera's detections the cloud holds."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT d.ts FROM detections_detection d JOIN fleet_camera c ON c.id = d.camera_id "
            "WHERE c.edge_id = %s",
            (camera_id,),
        ).fetchall()
    return [row[0] for row in rows]


def wait_until(condition: Callable[[], bool], what: str, agent: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _WAIT_S
    while not condition():
        assert agent.poll() is None, f"the agent exited ({agent.returncode}) before {what}"
        assert time.monotonic() < deadline, f"not within {_WAIT_S} s: {what}"
        time.sleep(_POLL_S)


def test_a_killed_rtsp_camera_comes_back_and_the_other_seven_lose_nothing(
    env: dict[str, str],
    ingest_server: tuple[Background, int],
    bridge: Background,
    rtsp_cameras: Callable[..., RtspServer],
    tmp_path: Path,
    mqtt_broker: MqttBroker,
    mqtt_site: str,
) -> None:
    database_url = env["SIGHTLINE_CLOUD_DATABASE_URL"]
    token = run_cloud(env, "device_token", mqtt_broker.device.username).strip()
    servers = {
        camera_id: rtsp_cameras(VTEST, user="admin", password="pw")
        for camera_id in (KILLED, "door-1")
    }
    config = agent_config(tmp_path, mqtt_broker, mqtt_site, ingest_server[1], cameras(servers))
    log_path = tmp_path / "agent.log"
    log = AgentLog(log_path)
    steady = [camera_id for camera_id in servers if camera_id != KILLED] + FILES
    with log_path.open("wb") as stderr:
        agent = subprocess.Popen(
            [sys.executable, *AGENT, str(config)],
            env=agent_env(token, mqtt_broker.device.password),
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        try:
            # Killed once the cloud has its detections and every other camera runs.
            wait_until(
                lambda: bool(detections_of(database_url, KILLED))
                and all(log.poll().get(camera_id, 0) > 0 for camera_id in steady),
                f"a detection of {KILLED} in the cloud and frames from every camera",
                agent,
            )
            # Stamped before the kill: the agent notices a closed connection at once, often
            # before `kill` has waited for the server's process to end.
            killed_at = datetime.now(UTC)
            servers[KILLED].kill()
            at_kill = log.poll()
            time.sleep(OUTAGE_S / 2)
            mid_outage = log.poll()
            time.sleep(OUTAGE_S / 2)
            at_restart = log.poll()
            servers[KILLED].start()
            restarted_at = datetime.now(UTC)
            wait_until(
                lambda: any(ts > restarted_at for ts in detections_of(database_url, KILLED)),
                f"a detection of {KILLED} captured after its restart, in the cloud",
                agent,
            )
            agent.terminate()  # SIGTERM: tracks end, the outbox drains
            stdout, _ = agent.communicate(timeout=150)
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
    log.poll()
    output = log_path.read_text(encoding="utf-8", errors="replace")
    assert agent.returncode == 0, output[-4000:]
    summary = json.loads(stdout.decode().strip().splitlines()[-1])

    # The others never stalled: frames in each half of the outage, every steady camera.
    assert log.frames[KILLED] >= at_restart.get(KILLED, 0) > 0
    for camera_id in steady:
        assert at_kill[camera_id] < mid_outage[camera_id] < at_restart[camera_id], camera_id
    assert log.reconnects(KILLED) >= 1 and log.reconnects("door-1") == 0

    # By id: every crop and every track the agent spooled is in the cloud, nothing else is.
    assert summary["crops_sent"] == summary["crops_queued"] == len(log.crops) > 0
    with psycopg.connect(database_url) as conn:
        detections = conn.execute(
            "SELECT d.id, d.label, c.edge_id FROM detections_detection d "
            "JOIN fleet_camera c ON c.id = d.camera_id"
        ).fetchall()
        tracks = {row[0] for row in conn.execute("SELECT id FROM detections_track").fetchall()}
        events = conn.execute(
            "SELECT kind, ts FROM fleet_deviceevent WHERE payload->>'camera_id' = %s ORDER BY ts",
            (KILLED,),
        ).fetchall()
        heartbeats = conn.execute(
            "SELECT cameras FROM monitoring_heartbeatsample WHERE sampled_at > %s "
            "AND sampled_at <= %s",
            (killed_at, restarted_at),
        ).fetchall()
    assert {row[0]: row[1] for row in detections} == log.crops
    assert tracks == log.tracks
    every_camera = {KILLED, *steady, CLIP}
    assert {row[2] for row in detections} == every_camera

    # The killed camera: detections from before the kill and after the restart, and its events.
    times = detections_of(database_url, KILLED)
    assert min(times) < killed_at < restarted_at < max(times)
    kinds = [kind for kind, ts in events if ts > killed_at]
    assert "camera.disconnected" in kinds, events
    assert "camera.connected" in kinds[kinds.index("camera.disconnected") :], events

    # The cloud's view of the outage: heartbeats in it, each steady camera inferring.
    assert heartbeats, "no heartbeat while the camera was down"
    for camera_id in steady:
        # cameras[id] = [decode_fps, infer_fps, ...] (cloud.monitoring.models.CAMERA_KEYS)
        assert sum(row[0][camera_id][1] for row in heartbeats) > 0, camera_id
