"""A dataset export asked for in the web app, and how far its Celery task got."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from cloud.datasets.selection import DatasetFormat


class DatasetExport(models.Model):
    """One export: what was asked, the task's progress, and where the zip is stored.

    Its zip holds crops of the cameras its creator saw when the task ran, so only the creator
    sees it (`cloud.datasets.views`).
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dataset_exports"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    format = models.CharField(
        max_length=8, choices=[(f.value, f.name) for f in DatasetFormat], default="coco"
    )
    options = models.JSONField(
        help_text="The `cloud.datasets.selection.ExportOptions` asked for, labels included."
    )
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    done = models.PositiveIntegerField(default=0, help_text="Images written so far.")
    total = models.PositiveIntegerField(default=0, help_text="Images planned.")
    images = models.PositiveIntegerField(default=0, help_text="Images in the finished zip.")
    boxes = models.PositiveIntegerField(default=0, help_text="Boxes in the finished zip.")
    skipped = models.PositiveIntegerField(
        default=0, help_text="Chosen crops left out (listed in the zip's export.json)."
    )
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    object_key = models.CharField(max_length=512, blank=True, default="")
    error = models.TextField(blank=True, default="", help_text="Why the export failed.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = (models.Index(fields=("created_by", "-created_at"), name="dataset_exports_by"),)

    def __str__(self) -> str:
        return f"{self.format} export {self.id} ({self.state})"

    @property
    def percent(self) -> int:
        """How far the task got, in whole percent."""
        if self.state == self.State.DONE:
            return 100
        return 100 * self.done // self.total if self.total else 0

    @property
    def file_name(self) -> str:
        """The zip's file name: its key's last segment."""
        return self.object_key.rpartition("/")[2]
