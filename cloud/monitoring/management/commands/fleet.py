"""``python -m cloud fleet status``: the whole fleet at a glance, for an operator or a script.

    fleet status [--site S] [--json]

Devices by health, hardware profile and agent version; the models they report running; how many
do not run what they should (drift); open alerts by kind; rollouts still in progress.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from django.db.models import Count
from django.utils import timezone

from cloud.deploy.services import deployments
from cloud.fleet.management.nouns import NounCommand, add_json
from cloud.fleet.models import Device
from cloud.fleet.registry import DeviceFilter, Health, find_devices
from cloud.monitoring.models import Alert
from cloud.rollouts.engine import Phase
from cloud.rollouts.models import Rollout


def _counts(devices: Any, field: str) -> dict[str, int]:
    rows = devices.values(field).annotate(n=Count("pk")).order_by(field)
    return {str(row[field] or "unknown"): row["n"] for row in rows}


def fleet_status(site: str = "") -> dict[str, Any]:
    """The figures `fleet status` prints (see the module docstring)."""
    now = timezone.now()
    devices = Device.objects.filter(site_id=site) if site else Device.objects.all()
    ids = list(devices.values_list("pk", flat=True))
    running: Counter[str] = Counter()
    drift: Counter[str] = Counter()
    for item in deployments(ids):
        drift[str(item.drift)] += 1
        if item.reported is not None:
            versions = {f"{c['name']} {c['version']}" for c in item.reported.cameras}
            running.update(versions)
    alerts = Alert.objects.filter(resolved_at__isnull=True, device_id__in=ids)
    live = [phase.value for phase in Phase if phase.live]
    return {
        "devices": len(ids),
        "health": {
            str(health): find_devices(DeviceFilter(site=site, health=health), now=now).count()
            for health in Health
        },
        "hardware": _counts(devices, "hardware_profile"),
        "agent_versions": _counts(devices, "agent_version"),
        "models_running": dict(sorted(running.items())),
        "deployments": dict(sorted(drift.items())),
        "open_alerts": _counts(alerts, "kind"),
        "rollouts": [
            {"name": r.name, "phase": r.phase, "stage": r.stage + 1, "stages": len(r.stages)}
            for r in Rollout.objects.filter(phase__in=live).order_by("created_at")
        ],
    }


def _text(status: dict[str, Any]) -> str:
    lines = [f"{status['devices']} devices"]
    for key in ("health", "hardware", "agent_versions", "models_running", "deployments"):
        figures = ", ".join(f"{name} {n}" for name, n in status[key].items()) or "none"
        lines.append(f"{key.replace('_', ' ')}: {figures}")
    alerts = ", ".join(f"{kind} {n}" for kind, n in status["open_alerts"].items()) or "none"
    lines.append(f"open alerts: {alerts}")
    for rollout in status["rollouts"]:
        lines.append(
            f"rollout {rollout['name']}: {rollout['phase']}, "
            f"stage {rollout['stage']}/{rollout['stages']}"
        )
    return "\n".join(lines)


class Command(NounCommand):
    help = "The fleet at a glance: health, hardware, versions, models, drift, alerts, rollouts."
    verbs: ClassVar[Mapping[str, str]] = {
        "status": "counts of devices by health, hardware, version and model; alerts"
    }

    def args_status(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--site", default="", help="only the devices of this site")
        add_json(parser)

    def do_status(self, *, site: str, **options: Any) -> None:
        status = fleet_status(site)
        self.emit(options, status, _text(status))
