"""Tracker backends by config `type`: `TrackerSettings` for the config schema, `create_tracker`.

The registry is explicit (STYLE.md): a key maps to a "module:Class" string imported on first use,
so the schema knows every key whether or not a backend's dependencies are installed.
"""

from __future__ import annotations

import importlib
from typing import cast

from edge.tracking.base import Tracker
from edge.tracking.bytetrack import ByteTrackSettings

# A discriminated union once a second backend exists; `type` is already the discriminator.
TrackerSettings = ByteTrackSettings

TRACKERS: dict[str, str] = {
    "bytetrack": "edge.tracking.bytetrack:ByteTrackTracker",
}


def create_tracker(settings: TrackerSettings, *, camera_id: str = "") -> Tracker:
    """Build the tracker that `settings.type` names, for one camera."""
    module_name, class_name = TRACKERS[settings.type].split(":")
    backend = getattr(importlib.import_module(module_name), class_name)
    return cast(Tracker, backend(settings, camera_id=camera_id))
