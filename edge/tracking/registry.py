"""Tracker backends by config `type`: `TrackerSettings` for the config schema, `create_tracker`.

The registry is explicit (docs/architecture.md, "Backends"): a key maps to a "module:Class" string
that `pkgutil.resolve_name` imports on first use,
so the schema knows every key whether or not a backend's dependencies are installed.
"""

from __future__ import annotations

import pkgutil
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
    backend = pkgutil.resolve_name(TRACKERS[settings.type])
    return cast(Tracker, backend(settings, camera_id=camera_id))
