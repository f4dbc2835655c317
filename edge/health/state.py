"""The agent at one moment, and whether it is doing its job.

Liveness (`/healthz`): the agent is doing its job unless every camera failed for good or a
delivery lane was stopped by a permanent error (bad credentials, an ACL denial): in both cases
nothing useful comes out until an operator or a restart acts, and a supervisor should know.
A camera that is reconnecting is not a failure: its own watchdog brings it back.

Readiness (`/readyz`): live, at least one camera delivering frames, and not stopping. It is
false while the agent starts (models loading, sources opening) and while it drains at shutdown.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from edge.pipelines.base import PipelineStats
from edge.pipelines.latency import LatencyHistogram
from sightline.device.v1 import metrics_pb2


class CameraState(enum.Enum):
    """Where a camera's pipeline stands: starting (opening its source, no frame yet), connected
    (its source delivers frames), recovering (its live source stopped delivering and the
    watchdog is reconnecting it), failed (for good: a corrupt file, the reconnection budget
    spent) or ended (without error: its file ended, max frames reached, or the agent stopping)."""

    STARTING = "starting"
    CONNECTED = "connected"
    RECOVERING = "recovering"
    FAILED = "failed"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """One camera: its state, the counters of its pipeline, its detector call times since it
    started, and how often its live source was lost and the watchdog reconnected it."""

    camera_id: str
    state: CameraState
    stats: PipelineStats
    latency: LatencyHistogram
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class AgentHealth:
    """Everything `/metrics`, `/healthz` and `/readyz` show, read at one moment."""

    cameras: Sequence[CameraHealth]
    lanes: Sequence[metrics_pb2.LaneMetrics] = ()
    """The outbox per lane, as the heartbeat reports it (empty without an outbox)."""
    delivery_failures: Sequence[str] = ()
    """Permanent delivery errors that stopped a lane or the MQTT link."""
    stopping: bool = False

    def problems(self) -> list[str]:
        """Why the agent is not doing its job; empty when it is (liveness)."""
        problems = []
        if self.cameras and all(c.state is CameraState.FAILED for c in self.cameras):
            problems.append("every camera failed")
        problems.extend(f"delivery stopped: {failure}" for failure in self.delivery_failures)
        return problems

    def not_ready(self) -> list[str]:
        """Why the agent should not count as serving; empty when it should (readiness)."""
        reasons = self.problems()
        if self.stopping:
            reasons.append("stopping")
        if not any(c.state is CameraState.CONNECTED for c in self.cameras):
            reasons.append("no camera is delivering frames")
        return reasons

    def describe(self, reasons: list[str]) -> dict[str, object]:
        """The JSON body of the health endpoints."""
        return {
            "status": "ok" if not reasons else "unhealthy",
            "reasons": reasons,
            "cameras": {c.camera_id: c.state.value for c in self.cameras},
            "delivery": {
                "lanes": {
                    lane.kind: {"rows": lane.rows, "error": lane.error} for lane in self.lanes
                },
                "failures": list(self.delivery_failures),
            },
            "stopping": self.stopping,
        }
