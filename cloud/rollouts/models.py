"""A rollout, the devices it touched with what they ran before, and its audit log."""

from __future__ import annotations

from django.db import models

from cloud.deploy.models import AGENT_IMAGE_LENGTH
from cloud.fleet.models import Device
from cloud.rollouts.engine import Phase
from cloud.validators import validate_edge_name


class Rollout(models.Model):
    """One model version, or one agent image, rolled out to the devices a selector matched,
    stage by stage.

    The plan (which device in which stage) is fixed at creation in `RolloutDevice`, so a
    device enrolled later is not swept in, and a restart of the cloud resumes the same plan.
    """

    name = models.CharField(max_length=64, unique=True, validators=[validate_edge_name])
    model_version = models.ForeignKey(
        "deploy.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rollouts",
        help_text="The model rolled out; null for an agent rollout.",
    )
    agent_image = models.CharField(
        max_length=AGENT_IMAGE_LENGTH,
        blank=True,
        help_text="The agent image rolled out ('repository:version'); empty for a model rollout.",
    )
    selector = models.JSONField(help_text="The `Selector` the devices were chosen by.")
    stages = models.JSONField(help_text='Stage sizes, as given: ["1", "10%", "50%", "100%"].')
    approvals = models.JSONField(default=list, help_text="Stage indexes that need approval.")
    soak_s = models.PositiveIntegerField(help_text="How long a stage's gate must hold.")
    baseline_s = models.PositiveIntegerField(
        help_text="How much health history before its assignment is a device's baseline."
    )
    bounds = models.JSONField(help_text="`cloud.rollouts.gate.GateBounds`, as stored.")
    phase = models.CharField(max_length=20, choices=[(p.value, p.value) for p in Phase])
    stage = models.IntegerField(help_text="Index of the current stage (-1: none started yet).")
    holding_since = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = (models.Index(fields=["phase"], name="rollouts_phase"),)
        constraints = (
            models.CheckConstraint(
                condition=(
                    models.Q(model_version__isnull=False, agent_image="")
                    | (models.Q(model_version__isnull=True) & ~models.Q(agent_image=""))
                ),
                name="rollouts_model_or_agent",
                violation_error_message="a rollout rolls out a model version or an agent image",
            ),
        )

    def __str__(self) -> str:
        return self.name

    @property
    def target(self) -> str:
        """What the rollout rolls out, for display: the model version or the agent image."""
        return str(self.model_version) if self.model_version else f"agent {self.agent_image}"


class RolloutDevice(models.Model):
    """A device in a rollout's plan: its stage, and what it ran before (model or agent image),
    to roll back to."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="devices")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="rollouts")
    stage = models.PositiveIntegerField()
    previous_version = models.ForeignKey(
        "deploy.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The model the device was meant to run before; none known: no rollback.",
    )
    previous_agent_image = models.CharField(
        max_length=AGENT_IMAGE_LENGTH,
        blank=True,
        help_text="The agent image the device ran or was meant to run before (agent rollouts); "
        "empty, none known: no rollback.",
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("rollout_id", "stage", "device_id")
        constraints = (
            models.UniqueConstraint(fields=["rollout", "device"], name="rollouts_device_once"),
        )

    def __str__(self) -> str:
        return f"{self.rollout} stage {self.stage + 1}: {self.device_id}"


class RolloutEvent(models.Model):
    """The audit log: every transition, who made it (an operator, or `gate`) and why."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    actor = models.CharField(max_length=150)
    action = models.CharField(max_length=32)
    phase = models.CharField(max_length=20, help_text="The phase after the transition.")
    stage = models.IntegerField()
    reason = models.TextField()
    devices = models.JSONField(default=list, help_text="Devices assigned or rolled back.")

    class Meta:
        ordering = ("rollout_id", "at", "id")

    def __str__(self) -> str:
        return f"{self.rollout} {self.action} by {self.actor}"
