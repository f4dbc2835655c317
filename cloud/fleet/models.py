"""The fleet registry (sites, devices, their cameras, groups and tags, enrolments) and what
devices report about themselves."""

from __future__ import annotations

from typing import Final

from django.conf import settings
from django.db import models

from cloud.validators import validate_edge_name

DEFAULT_SITE: Final = "default"
"""The site of a device registered without one: the edge's own default (edge.config)."""


class HardwareProfile(models.TextChoices):
    JETSON_ORIN = "jetson-orin", "Jetson Orin"
    JETSON_XAVIER = "jetson-xavier", "Jetson Xavier"
    X86_GPU = "x86-gpu", "x86 with NVIDIA GPU"
    X86_CPU = "x86-cpu", "x86 CPU only"


class DeviceStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class Site(models.Model):
    """A place devices are installed at. Its id is an MQTT topic level of every device there
    (`sightline.device.v1.topics`), so it follows the shared name grammar (`sightline.names`)."""

    id = models.CharField(primary_key=True, max_length=64, validators=[validate_edge_name])
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.name or self.id


class Tag(models.Model):
    """A free label on devices ("lobby", "beta-ring"), for filtering and targeting them."""

    id = models.CharField(primary_key=True, max_length=64, validators=[validate_edge_name])

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return self.id


class Device(models.Model):
    """An edge box. Its id is the one in its config and credentials, chosen at provisioning."""

    id = models.CharField(primary_key=True, max_length=64, validators=[validate_edge_name])
    name = models.CharField(max_length=200, blank=True)
    # PROTECT: a site with devices is never deleted from under them (their broker accounts
    # are confined to its topics). No default: `provision_device` puts a device registered
    # without a site at DEFAULT_SITE, made when needed.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="devices")
    hardware_profile = models.CharField(max_length=16, choices=HardwareProfile.choices)
    tags = models.ManyToManyField(Tag, related_name="devices", blank=True)
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


class CameraGroup(models.Model):
    """Cameras of one site that belong together ("entrances"), across its devices."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="groups", db_index=False)
    name = models.CharField(max_length=64, validators=[validate_edge_name])
    cameras = models.ManyToManyField(Camera, related_name="groups", blank=True)

    class Meta:
        ordering = ("site_id", "name")
        constraints = (
            models.UniqueConstraint(fields=["site", "name"], name="fleet_cameragroup_unique_name"),
        )

    def __str__(self) -> str:
        return f"{self.site_id}/{self.name}"


class Enrolment(models.Model):
    """A one-time enrolment token an operator made for a device to come: exchanged once, before
    it expires, for the device's credentials (`cloud.fleet.enrolment`).

    Only the token's SHA-256 is kept, as for device tokens (`cloud.ingest.models`): the token
    is 256 random bits, so a slow hash would add nothing.
    """

    token_sha256 = models.CharField(
        max_length=64, unique=True, help_text="Lowercase hex SHA-256 of the token."
    )
    hint = models.CharField(max_length=8)
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="enrolments")
    hardware_profile = models.CharField(max_length=16, choices=HardwareProfile.choices)
    device_id = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_edge_name],
        help_text="The id the device gets; blank lets the cloud choose one.",
    )
    name = models.CharField(max_length=200, blank=True)
    tags = models.ManyToManyField(Tag, related_name="+", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    enrolled = models.ForeignKey(
        Device,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="enrolments",
        help_text="The device the token was exchanged for.",
    )

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"enrolment {self.hint}… for {self.device_id or self.site_id}"


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

    One row per device, replaced by each later heartbeat
    (`cloud.monitoring.services.record_heartbeat`).
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
    # {camera_id: {keys as in CAMERA_HEALTH_FIELDS}}: each camera's state and frame counters.
    cameras = models.JSONField(default=dict, blank=True)

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

CAMERA_HEALTH_FIELDS = ("connected", "infer_fps", "frames_gated_total", "frames_dropped_total")
"""The keys of each camera of `DeviceHealth.cameras` (`sightline.device.v1.CameraMetrics`): the
counters since the agent started; the per-interval figures are charted from the samples."""
