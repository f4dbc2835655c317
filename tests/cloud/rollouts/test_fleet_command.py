"""`python -m cloud fleet status`: the fleet at a glance, in text and JSON."""

from __future__ import annotations

import json
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from cloud.deploy.models import ModelVersion
from cloud.fleet.models import Device, DeviceStatus
from cloud.monitoring.models import Alert, AlertKind
from cloud.rollouts import services
from tests.cloud.rollouts.reports import CPU, GPU, request


def status(*args: str) -> str:
    out = StringIO()
    call_command("fleet", "status", *args, stdout=out)
    return out.getvalue()


def test_the_fleet_at_a_glance(old_and_new: tuple[ModelVersion, ModelVersion]) -> None:
    _, new = old_and_new
    Device.objects.filter(pk__in=CPU).update(status=DeviceStatus.ONLINE, agent_version="0.3.0")
    Alert.objects.create(
        device_id=GPU[0], kind=AlertKind.OFFLINE, raised_at=timezone.now(), detail="gone"
    )
    services.start_rollout(request(new), "alice")
    figures = json.loads(status("--json"))
    assert figures["devices"] == len(CPU) + len(GPU)
    assert figures["hardware"] == {"x86-cpu": len(CPU), "x86-gpu": len(GPU)}
    assert figures["agent_versions"] == {"0.3.0": len(CPU), "unknown": len(GPU)}
    assert figures["health"]["offline"] == len(GPU)
    assert figures["models_running"] == {"nanodet-g 1": len(CPU) + len(GPU)}
    assert figures["deployments"] == {"converged": len(CPU) + len(GPU) - 1, "unpublished": 1}
    assert figures["open_alerts"] == {"offline": 1}
    assert figures["rollouts"] == [
        {"name": "nanodet-2", "phase": "running", "stage": 1, "stages": 3}
    ]
    text = status()
    assert "open alerts: offline 1" in text and "rollout nanodet-2: running, stage 1/3" in text
    assert json.loads(status("--site", "nowhere", "--json"))["devices"] == 0
