"""The Celery tasks beat queues run the passes on this process's settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from cloud.fleet.models import Device, DeviceStatus
from cloud.fleet.registry import ensure_site
from cloud.monitoring.models import Alert, HealthRollup, HeartbeatSample
from cloud.monitoring.tasks import evaluate_alerts, roll_up_samples
from tests.cloud.monitoring.samples import stored

SETTINGS = {
    "heartbeat_s": 5,
    "alert_window_s": 60,
    "alert_interval_s": 15,
    "raw_retention_h": 1,
    "rollup_s": 300,
    "rollup_retention_days": 30,
    "rollup_interval_s": 300,
}


@pytest.mark.django_db
@override_settings(MONITORING=SETTINGS)
def test_the_tasks_raise_alerts_and_roll_up_with_the_configured_settings() -> None:
    now = timezone.now()
    Device.objects.create(
        site=ensure_site("default"),
        id="cam-a",
        hardware_profile="x86-cpu",
        status=DeviceStatus.OFFLINE,
        last_seen=now,
    )
    stored("cam-a", 1, now - timedelta(hours=3))
    assert evaluate_alerts() == (1, 0)
    assert Alert.objects.get().kind == "offline"
    assert roll_up_samples() == (1, 0)
    assert not HeartbeatSample.objects.exists()
    assert HealthRollup.objects.count() == 1


@pytest.mark.django_db
@override_settings(MONITORING={**SETTINGS, "rollup_s": 7200})
def test_settings_that_cannot_work_stop_the_task() -> None:
    with pytest.raises(ValueError, match="rollup_s must not exceed raw_retention_h"):
        roll_up_samples()
