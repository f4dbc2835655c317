"""`AgentLog`: each camera's progress, read from a running agent's log as it grows.

A test or benchmark runs `python -m edge run` with `log_level: DEBUG` and its stderr in a file;
`poll()` reads what was appended since the last call and counts, per camera, the frames run
through the detector (the pipeline's per-frame DEBUG record) and the connections its live source
made (the first one included), and collects the ids of the crops and tracks delivery spooled.
Polled at known moments (before and after an RTSP camera is killed, say), the counts show which
cameras kept advancing meanwhile, without parsing the log's clock.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"camera (\S+) frame \d+: ")
_CONNECTED = re.compile(r"camera (\S+): connected to ")
SPOOLED = re.compile(r"crop ([0-9a-f-]{36}) spooled \((\w[\w ]*), track ([0-9a-f-]{36})\)")
"""The delivery's DEBUG record of a spooled crop: its detection id, label and track id."""
_TRACK_SPOOLED = re.compile(r"track summary ([0-9a-f-]{36}) spooled ")


class AgentLog:
    """Counters over the agent's log file at `path` (text format), updated by `poll`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._partial = b""
        self.frames: Counter[str] = Counter()
        """Frames run through the detector, per camera."""
        self.connects: Counter[str] = Counter()
        """Connections made by each live camera (1 = never reconnected)."""
        self.crops: dict[str, str] = {}
        """Detection id -> label of every crop spooled for delivery."""
        self.tracks: set[str] = set()
        """Ids of the tracks with a crop or a summary spooled."""

    def poll(self) -> dict[str, int]:
        """Read what the agent appended since the last call; return a copy of `frames`."""
        if self._path.exists():
            with self._path.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
            self._offset += len(chunk)
            lines = (self._partial + chunk).split(b"\n")
            # The last piece may be a line the agent is still writing: keep it for next time.
            self._partial = lines.pop()
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if match := _FRAME.search(line):
                    self.frames[match.group(1)] += 1
                elif match := _CONNECTED.search(line):
                    self.connects[match.group(1)] += 1
                elif match := SPOOLED.search(line):
                    self.crops[match.group(1)] = match.group(2)
                    self.tracks.add(match.group(3))
                elif match := _TRACK_SPOOLED.search(line):
                    self.tracks.add(match.group(1))
        return dict(self.frames)

    def reconnects(self, camera_id: str) -> int:
        """Connections `camera_id` made after its first."""
        return max(self.connects[camera_id] - 1, 0)
