"""Device health over time: one compact row per heartbeat, roll-ups of old ones, alerts.

The latest heartbeat of each device stays in `cloud.fleet.models.DeviceHealth` (what the
devices page shows now); these tables hold the history behind the charts, the alerts and the
rollout gate (`cloud.monitoring.services.window_stats`).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from cloud.fleet.models import Device

CAMERA_KEYS = ("decode_fps", "infer_fps", "target_fps", "p50_ms", "p95_ms", "detections")
"""The figures of each camera in `HeartbeatSample.cameras`, in this order (a list per camera id:
short rows, because there is one per heartbeat of every camera)."""


class HeartbeatSample(models.Model):
    """One heartbeat (`sightline.device.v1.Metrics`) of one device, as the charts and alerts
    read it: the device-wide figures in columns, each camera's in `cameras`.

    Stored once per (device, seq), so a redelivered heartbeat is not counted twice. Kept for
    `MONITORING["raw_retention_h"]`, then folded into `HealthRollup` rows and deleted.
    """

    # No separate index: the unique (device, seq) constraint's index starts with device.
    device = models.ForeignKey(Device, on_delete=models.CASCADE, db_index=False, related_name="+")
    seq = models.BigIntegerField(help_text="The heartbeat's message key seq.")
    sampled_at = models.DateTimeField(help_text="When the device took the sample (its clock).")
    received_at = models.DateTimeField(help_text="When the cloud received it (the cloud's clock).")
    interval_s = models.FloatField(help_text="Seconds the per-interval figures cover.")
    infer_fps = models.FloatField(
        null=True, help_text="Frames through the detector per second, mean of the cameras."
    )
    fps_ratio = models.FloatField(
        null=True,
        help_text="The lowest infer fps / target fps of the cameras that have a target: below 1 "
        "a camera runs slower than configured. Null without such a camera.",
    )
    latency_p95_ms = models.FloatField(
        null=True, help_text="Detector p95 latency of the slowest camera, milliseconds."
    )
    detections = models.PositiveBigIntegerField(
        help_text="Detections in the interval, all cameras."
    )
    errors_total = models.PositiveBigIntegerField(help_text="Errors since the agent started.")
    outbox_rows = models.PositiveBigIntegerField()
    dropped_total = models.PositiveBigIntegerField(
        help_text="Outbox rows dropped by the bound, since the outbox was created."
    )
    dead_letters_total = models.PositiveBigIntegerField(
        help_text="Outbox rows dead-lettered, all lanes, since the outbox was created."
    )
    disk_free_bytes = models.PositiveBigIntegerField()
    temperature_celsius = models.FloatField(null=True)
    # {camera_id: [figures in CAMERA_KEYS order]}; latencies are null when no frame ran.
    cameras = models.JSONField(default=dict)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["device", "seq"], name="monitoring_sample_unique_seq"),
        )
        indexes = (
            # The charts: one device's samples by time.
            models.Index(fields=["device", "received_at"], name="monitoring_sample_device_time"),
            # The alert pass and the roll-up: every device's recent or old samples.
            models.Index(fields=["received_at"], name="monitoring_sample_time"),
        )

    def __str__(self) -> str:
        return f"{self.device_id} #{self.seq}"


class HealthRollup(models.Model):
    """The heartbeats of one device over one `MONITORING["rollup_s"]` bucket, after their raw
    samples were deleted: enough for the charts' long ranges."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, db_index=False, related_name="+")
    bucket_start = models.DateTimeField(help_text="Start of the bucket (cloud clock).")
    samples = models.PositiveIntegerField()
    infer_fps = models.FloatField(null=True, help_text="Mean of the samples' infer_fps.")
    fps_ratio = models.FloatField(null=True, help_text="Lowest of the samples' fps_ratio.")
    latency_p95_ms = models.FloatField(null=True, help_text="Highest p95 latency of the samples.")
    detections = models.PositiveBigIntegerField(help_text="Sum over the samples.")
    errors_total = models.PositiveBigIntegerField(help_text="Highest of the samples.")
    outbox_rows = models.PositiveBigIntegerField(help_text="Highest of the samples.")
    dropped_total = models.PositiveBigIntegerField(help_text="Highest of the samples.")
    dead_letters_total = models.PositiveBigIntegerField(help_text="Highest of the samples.")
    disk_free_bytes = models.PositiveBigIntegerField(help_text="Lowest of the samples.")
    temperature_celsius = models.FloatField(null=True, help_text="Highest of the samples.")

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=["device", "bucket_start"], name="monitoring_rollup_unique_bucket"
            ),
        )
        indexes = (models.Index(fields=["bucket_start"], name="monitoring_rollup_time"),)

    def __str__(self) -> str:
        return f"{self.device_id} {self.bucket_start:%Y-%m-%d %H:%M}"


class AlertKind(models.TextChoices):
    OFFLINE = "offline", "Offline"
    LAGGING = "lagging", "Lagging"
    DROPPING = "dropping", "Dropping data"


class Alert(models.Model):
    """A condition of one device that needs an operator's eye, from when it was raised until it
    cleared by itself (`cloud.monitoring.alerts`). At most one open alert per device and kind."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16, choices=AlertKind.choices)
    detail = models.CharField(max_length=500, help_text="What was seen, for the operator.")
    raised_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-raised_at",)
        constraints = (
            models.UniqueConstraint(
                fields=["device", "kind"],
                condition=Q(resolved_at__isnull=True),
                name="monitoring_alert_one_open_per_kind",
            ),
        )
        indexes = (
            models.Index(
                fields=["resolved_at"],
                condition=Q(resolved_at__isnull=True),
                name="monitoring_alert_open",
            ),
        )

    def __str__(self) -> str:
        state = "open" if self.resolved_at is None else "resolved"
        return f"{self.device_id} {self.kind} ({state})"

    @property
    def is_open(self) -> bool:
        """Whether the condition still holds."""
        return self.resolved_at is None
