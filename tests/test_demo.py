"""The README's first command: the whole system on embedded defaults, no server installed."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from cloud.embeddings.spec import CROP_VECTOR_COLLECTION
from tests.footage.clips import clip_path

pytestmark = pytest.mark.slow

SERVING = re.compile(r"search the footage at (http://127\.0\.0\.1:\d+/)")
SUMMARY = re.compile(
    r"frames (\d+), detections (\d+), tracks (\d+), crops indexed (\d+), seconds [\d.]+"
)


def test_the_demo_makes_the_clip_searchable_and_serves_it(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    with subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", "0", "--data-dir", str(data),
         "--video", str(clip_path("vtest-10s.avi"))],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as demo:  # fmt: skip
        try:
            assert demo.stdout is not None
            summary = demo.stdout.readline()
            served = SERVING.search(demo.stdout.readline())
            assert served, summary
            base = served.group(1)
            with urllib.request.urlopen(f"{base}login/", timeout=10) as page:
                assert page.status == 200
                assert b"password" in page.read()
        finally:
            demo.send_signal(signal.SIGTERM)
            assert demo.wait(timeout=60) == 128 + signal.SIGTERM
    with pytest.raises(urllib.error.URLError):  # the web app stopped with the demo
        urllib.request.urlopen(base, timeout=5)
    found = SUMMARY.search(summary)
    assert found, summary
    frames, detections, tracks, indexed = map(int, found.groups())
    assert frames == 100
    assert detections > tracks >= 3
    with sqlite3.connect(data / "cloud.sqlite3") as db:
        stored = db.execute("SELECT count(*) FROM detections_detection").fetchone()[0]
        people = db.execute(
            "SELECT count(*) FROM detections_detection WHERE label = 'person'"
        ).fetchone()[0]
        # The MQTT bridge (MQTT 3.1.1 on the in-process broker) saw the birth and the goodbye.
        status = db.execute("SELECT status, status_seq FROM fleet_device").fetchall()
        summarised = db.execute(
            "SELECT count(*) FROM detections_track WHERE best_detection_id IS NOT NULL"
        ).fetchone()[0]
    with sqlite3.connect(data / "vectors.sqlite3") as db:
        # The embedded store keeps the crop vectors' collection (the settings' default) here.
        table = f"items_{CROP_VECTOR_COLLECTION}"
        vectors = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
    assert indexed == stored == vectors
    assert people >= 3
    ((state, session_seq),) = status
    assert state == "offline"
    # The agent's first session: a new outbox counts from its creation time in microseconds.
    assert session_seq > 1_700_000_000 * 10**6
    assert summarised == tracks


def test_the_demo_explains_a_missing_video(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo", "--no-serve", "--data-dir", str(tmp_path),
         "--video", str(tmp_path / "absent.avi")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "no video at" in result.stderr
