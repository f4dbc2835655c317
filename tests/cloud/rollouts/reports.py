"""A fleet's state as the rollout gate reads it: reported models and heartbeat samples."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from cloud.deploy.models import DesiredState, ModelVersion
from cloud.deploy.services import ReportedCamera, record_reported_state
from cloud.rollouts.gate import GateBounds
from cloud.rollouts.services import RolloutRequest, Selector
from tests.cloud.monitoring.samples import stored

CPU = [f"cpu-{n}" for n in range(1, 7)]
GPU = ["gpu-1", "gpu-2"]
_seq = itertools.count(1)


def runs(
    device_id: str,
    version: ModelVersion | None,
    since: datetime,
    span: timedelta = timedelta(seconds=60),
    *,
    fps: float = 5.0,
    error: str = "",
    agent_image: str = "",
) -> None:
    """The device reports what its desired state asked for (running `version` and
    `agent_image`, or refusing them with `error`) at `since`, then heartbeats every 5 s for
    `span`."""
    desired = DesiredState.objects.filter(pk=device_id).first()
    record_reported_state(
        device_id,
        seq=next(_seq),
        generation=desired.generation if desired else 0,
        config_version="",
        cameras=[ReportedCamera("lobby", version.name, version.version)] if version else [],
        error=error,
        reported_at=since,
        received_at=since,
        agent_image=agent_image,
    )
    for step in range(int(span.total_seconds() // 5)):
        stored(device_id, next(_seq), since + timedelta(seconds=5 * (step + 1)), infer_fps=fps)


SOAK = timedelta(seconds=60)


def request(new: ModelVersion | None, **changes: object) -> RolloutRequest:
    values: dict[str, object] = {
        "name": "nanodet-2",
        "model_version_id": new.pk if new else None,
        "selector": Selector(),
        "stages": ("1", "50%", "100%"),
        "soak": SOAK,
        "baseline": timedelta(minutes=10),
        "bounds": GateBounds(),
        **changes,
    }
    return RolloutRequest(**values)  # type: ignore[arg-type]
