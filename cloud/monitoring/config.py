"""The monitoring app's settings (`settings.MONITORING`, from `SIGHTLINE_CLOUD_MONITORING_*`)."""

from __future__ import annotations

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, model_validator


class MonitoringSettings(BaseModel):
    """How long heartbeat history is kept and when a device raises an alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        description="The fleet's heartbeat interval (the edge's mqtt.heartbeat_s), assumed for a "
        "device until one of its heartbeats reports its own interval.",
    )
    offline_after_intervals: float = Field(
        default=3.0,
        gt=1,
        description="A device that sent no heartbeat for this many of its intervals is offline, "
        "as is one whose last will (or clean shutdown) said so.",
    )
    alert_window_s: int = Field(
        default=120,
        ge=10,
        description="The recent heartbeats the lagging and dropping alerts look at, in seconds; "
        "an alert clears once a whole window shows the condition gone.",
    )
    alert_interval_s: int = Field(
        default=15, ge=1, description="How often Celery beat runs the alert pass, in seconds."
    )
    lagging_fps_ratio: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Lagging: a camera's detector rate averaged over the window is below this "
        "share of its configured rate.",
    )
    outbox_growth_samples: int = Field(
        default=6,
        ge=2,
        description="Lagging: the outbox grew in each of this many consecutive heartbeats ...",
    )
    outbox_growth_rows: int = Field(
        default=50, ge=1, description="... and by at least this many rows over them."
    )
    raw_retention_h: int = Field(
        default=24,
        ge=1,
        description="Hours every heartbeat is kept as it came; older ones are rolled up.",
    )
    rollup_s: int = Field(
        default=300, ge=60, description="Seconds each roll-up row covers (one device, one bucket)."
    )
    rollup_retention_days: int = Field(
        default=30, ge=1, description="Days roll-ups are kept; older ones are deleted."
    )
    rollup_interval_s: int = Field(
        default=300, ge=10, description="How often Celery beat runs the roll-up, in seconds."
    )

    @model_validator(mode="after")
    def _buckets_fit_the_retention(self) -> MonitoringSettings:
        if self.rollup_s > self.raw_retention_h * 3600:
            raise ValueError("rollup_s must not exceed raw_retention_h")
        return self


def monitoring_settings() -> MonitoringSettings:
    """This process's `MonitoringSettings`, from `settings.MONITORING`."""
    return MonitoringSettings.model_validate(settings.MONITORING)
