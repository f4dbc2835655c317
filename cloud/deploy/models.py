"""Signing keys, model versions, and the desired and reported state of each device.

Desired vs reported (docs/architecture.md, "Transport"): `DesiredState` is what the cloud wants a
device to run, one row per device with a generation that only grows; the bridge publishes it,
retained, whenever `published_generation` lags `generation` (`cloud.deploy.publisher`).
`ReportedState` is what the device says it runs, stored as it arrived: the truth the pages show.
"""

from __future__ import annotations

from typing import Final

from django.db import models

from cloud.fleet.models import Device

AGENT_IMAGE_LENGTH: Final = 255
"""The longest agent image reference stored (a registry host, a path and a tag)."""


class SigningKey(models.Model):
    """An operator's ed25519 public key that model signatures are checked against."""

    key_id = models.CharField(primary_key=True, max_length=16)
    public_key = models.CharField(max_length=64, unique=True, help_text="ed25519:<base64>")
    label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created_at",)

    def __str__(self) -> str:
        return f"{self.key_id} {self.label}".strip()


class ModelVersion(models.Model):
    """One uploaded, signed model version. Immutable once stored."""

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=64)
    task = models.CharField(max_length=32)
    manifest = models.JSONField(help_text="The manifest's runtime view (models.manifest).")
    manifest_toml = models.TextField(help_text="The manifest as uploaded and signed.")
    manifest_sha256 = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64, help_text="sha256 of the ONNX file.")
    size = models.PositiveBigIntegerField()
    object_key = models.CharField(max_length=300, unique=True)
    signature = models.BinaryField(max_length=64)
    key = models.ForeignKey(SigningKey, on_delete=models.PROTECT, related_name="model_versions")
    uploaded_by = models.CharField(max_length=150)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name", "-uploaded_at")
        constraints = (
            models.UniqueConstraint(fields=["name", "version"], name="deploy_model_name_version"),
        )

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class DesiredState(models.Model):
    """What one device must run. `cameras` maps a camera id ('' for every camera of the
    device) to a `ModelVersion` id; `agent_image` is the agent's container image ('': no
    wish)."""

    device = models.OneToOneField(
        Device, on_delete=models.CASCADE, primary_key=True, related_name="desired_state"
    )
    generation = models.PositiveBigIntegerField(help_text="Grows by one on every change.")
    config_version = models.CharField(max_length=64, blank=True)
    cameras = models.JSONField(default=dict)
    agent_image = models.CharField(max_length=AGENT_IMAGE_LENGTH, blank=True)
    published_generation = models.PositiveBigIntegerField(
        default=0, help_text="The generation last published; behind `generation` until sent."
    )
    url_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the download URLs of the published state expire."
    )
    changed_by = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        indexes = (
            models.Index(
                fields=["published_generation", "generation"], name="deploy_desired_publish"
            ),
        )

    def __str__(self) -> str:
        return f"{self.device_id} generation {self.generation}"


class DesiredStateChange(models.Model):
    """The history of desired states: who asked for which generation, and why."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="desired_changes")
    generation = models.PositiveBigIntegerField()
    cameras = models.JSONField(default=dict)
    agent_image = models.CharField(max_length=AGENT_IMAGE_LENGTH, blank=True)
    config_version = models.CharField(max_length=64, blank=True)
    changed_by = models.CharField(max_length=150)
    reason = models.TextField(blank=True)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ("device_id", "-generation")
        constraints = (
            models.UniqueConstraint(
                fields=["device", "generation"], name="deploy_change_unique_generation"
            ),
        )

    def __str__(self) -> str:
        return f"{self.device_id} generation {self.generation} by {self.changed_by}"


class ReportedState(models.Model):
    """What one device last said it runs (`sightline.device.v1.ReportedState`)."""

    device = models.OneToOneField(
        Device, on_delete=models.CASCADE, primary_key=True, related_name="reported_state"
    )
    seq = models.BigIntegerField(help_text="key.seq of the report shown; older ones are ignored.")
    generation = models.PositiveBigIntegerField(help_text="Last desired generation processed.")
    config_version = models.CharField(max_length=64, blank=True)
    cameras = models.JSONField(default=list, help_text="[{camera_id, name, version}]")
    agent_image = models.CharField(
        max_length=AGENT_IMAGE_LENGTH, blank=True, help_text="The image the agent runs."
    )
    error = models.TextField(blank=True)
    reported_at = models.DateTimeField(help_text="When the device made the report (its clock).")
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.device_id} at generation {self.generation}"


class DeviceCommand(models.Model):
    """A command for one device (`sightline.device.v1.Command`), kept until the bridge has
    published it; not retained on the broker: it expires instead."""

    request_id = models.UUIDField(primary_key=True)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="commands")
    name = models.CharField(max_length=64)
    args = models.JSONField(default=dict, blank=True)
    issued_by = models.CharField(max_length=150)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("issued_at",)
        indexes = (models.Index(fields=["published_at", "issued_at"], name="deploy_cmd_pending"),)

    def __str__(self) -> str:
        return f"{self.name} for {self.device_id} ({self.request_id})"
