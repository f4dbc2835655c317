"""`RtspServer`: a local RTSP camera (`rtsp_serve.py` under the system Python) that tests can
kill, freeze and restart on the same port, to see what a camera's source does when its stream
goes away and comes back."""

from __future__ import annotations

import os
import select
import signal
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.services import apt
from tests.services.procs import ServiceError, free_ports

SYSTEM_PYTHON = Path("/usr/bin/python3")
SCRIPT = Path(__file__).with_name("rtsp_serve.py")
DEBIAN_PACKAGES = (
    "python3-gi",
    "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-rtsp",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-ugly",
    "gstreamer1.0-libav",
)
"""What `rtsp_serve.py` needs (`./sightline test` installs them, as TEST_PACKAGES)."""

_READY_TIMEOUT_S = 10.0


def unavailable() -> str | None:
    """Why the server cannot run here (packages missing), or None."""
    missing = apt.missing(DEBIAN_PACKAGES)
    if missing or not SYSTEM_PYTHON.exists():
        return f"the RTSP test server needs the Debian packages {' '.join(missing or ['python3'])}"
    return None


class RtspServer:
    """Serves `video` at `url` from a child process; `start` again after `kill` to restart on
    the same port (a camera rebooting)."""

    def __init__(self, video: Path, *, user: str | None = None, password: str | None = None):
        """With `user` and `password`, clients must authenticate (basic)."""
        self._video = video
        self._credentials = (user, password) if user and password else None
        self.port = free_ports(1)[0]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The stream's URL, credentials included when there are some."""
        userinfo = ""
        if self._credentials is not None:
            user, password = self._credentials
            userinfo = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        return f"rtsp://{userinfo}127.0.0.1:{self.port}/live"

    def agent_source(
        self, fps: float, *, timeout_s: float, backoff_s: tuple[float, float]
    ) -> dict[str, Any]:
        """This camera as an agent config's `cameras[].source` (edge/example.yaml): over TCP,
        sampled at `fps`, its watchdog giving up on a silent stream after `timeout_s`, waits
        between reconnections doubling from `backoff_s[0]` up to `backoff_s[1]`."""
        return {
            "url": self.url,
            "fps": fps,
            "transport": "tcp",
            "open_timeout_s": timeout_s,
            "read_timeout_s": timeout_s,
            "reconnect": {"initial_s": backoff_s[0], "max_s": backoff_s[1]},
        }

    @property
    def running(self) -> bool:
        """Started and not killed since."""
        return self._process is not None

    def start(self) -> None:
        """Start serving; returns once the server listens."""
        args = [str(SYSTEM_PYTHON), str(SCRIPT), str(self.port), str(self._video)]
        if self._credentials is not None:
            args += list(self._credentials)
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._process = process
        assert process.stdout is not None  # piped just above
        readable, _, _ = select.select([process.stdout], [], [], _READY_TIMEOUT_S)
        line = process.stdout.readline() if readable else b""
        if not line.startswith(b"ready"):
            self.kill()
            raise ServiceError(f"the RTSP test server did not start on port {self.port}")

    def kill(self) -> None:
        """End the server at once (SIGKILL: no goodbye to the clients, as a power cut)."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def freeze(self) -> None:
        """Stop the server's process (SIGSTOP): connections stay open and carry nothing."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """Let a frozen server go on."""
        assert self._process is not None
        os.kill(self._process.pid, signal.SIGCONT)
