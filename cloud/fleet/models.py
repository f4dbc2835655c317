"""Devices, their cameras, and what they report about themselves."""

from __future__ import annotations

from django.db import models

from cloud.validators import validate_edge_name


class HardwareProfile(models.TextChoices):
    JETSON_ORIN = "jetson-orin", "Jetson Orin"
    X86_GPU = "x86-gpu", "x86 with NVIDIA GPU"
    X86_CPU = "x86-cpu", "x86 CPU only"


class DeviceStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class Device(models.Model):
    """An edge box. Its id is the one in its config and credentials, chosen at provisioning."""

    id = models.CharField(primary_key=True, max_length=64, validators=[validate_edge_name])
    name = models.CharField(max_length=200, blank=True)
    site = models.CharField(max_length=100, blank=True, db_index=True)
    hardware_profile = models.CharField(max_length=16, choices=HardwareProfile.choices)
    agent_version = models.CharField(max_length=64, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=8, choices=DeviceStatus.choices, default=DeviceStatus.OFFLINE
    )
    # Session sequence of the status message applied last (birth and LWT of one session share
    # it); null until the first status arrives. See fleet.services.record_device_status.
    status_seq = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.name or self.id


class Camera(models.Model):
    """A video source on a device, known by the id the device's config gives it."""

    # No separate index: the unique (device, edge_id) constraint's index starts with device.
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="cameras", db_index=False
    )
    edge_id = models.CharField(max_length=64, validators=[validate_edge_name])
    name = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ("device_id", "edge_id")
        constraints = (
            models.UniqueConstraint(
                fields=["device", "edge_id"], name="fleet_camera_unique_edge_id"
            ),
        )

    def __str__(self) -> str:
        return self.name or f"{self.device_id}/{self.edge_id}"


class DeviceEvent(models.Model):
    """Something a device reported (restart, error, config applied), stored once per seq."""

    # No separate index: the unique (device, seq) constraint's index starts with device.
    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    # The device's message sequence number: (device, seq) is the idempotency key, so a message
    # redelivered at QoS 1 is stored once.
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    ts = models.DateTimeField(help_text="When the device says it happened.")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-ts",)
        constraints = (
            models.UniqueConstraint(fields=["device", "seq"], name="fleet_deviceevent_unique_seq"),
        )
        indexes = (models.Index(fields=["device", "-ts"], name="fleet_event_device_ts"),)

    def __str__(self) -> str:
        return f"{self.device_id} {self.kind} #{self.seq}"


class DeviceHealth(models.Model):
    """A device's latest heartbeat (`sightline.device.v1.Metrics`): what its outbox holds and
    what it lost, as the device counted it, so that no loss goes unseen.

    One row per device, replaced by each later heartbeat (`fleet.services.record_heartbeat`).
    The counters are the device's own: per outbox lane (`lanes`, see `LANE_FIELDS`) the rows
    dropped by the outbox's bound and dead-lettered since the outbox was created, and those
    delivered since the agent session started.
    """

    device = models.OneToOneField(
        Device, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    # key.seq of the heartbeat shown: an older one, delivered late, is ignored.
    seq = models.BigIntegerField()
    session_seq = models.PositiveBigIntegerField()
    sampled_at = models.DateTimeField(help_text="When the device took the sample (its clock).")
    received_at = models.DateTimeField(help_text="When the cloud received the sample.")
    outbox_rows = models.PositiveBigIntegerField()
    outbox_bytes = models.PositiveBigIntegerField()
    outbox_dropped_total = models.PositiveBigIntegerField()
    tracks_interrupted_total = models.PositiveBigIntegerField(
        help_text="Tracks cut short by a crash of the agent, since the outbox was created."
    )
    disk_free_bytes = models.PositiveBigIntegerField()
    # One object per lane, keys as in LANE_FIELDS.
    lanes = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name_plural = "device health"

    def __str__(self) -> str:
        return f"{self.device_id} at {self.sampled_at:%Y-%m-%d %H:%M:%S}"


LANE_FIELDS = (
    "kind",
    "rows",
    "bytes",
    "dropped_total",
    "dead_letters_total",
    "delivered_total",
    "error",
)
"""The keys of each object of `DeviceHealth.lanes` (`sightline.device.v1.LaneMetrics`)."""
