"""How crops that never got a vector are found again, and when one is given up.

Ingest acknowledges a crop (STORED) once its row is committed and only then queues its embed
task, so a crash between the two, a broker that lost the message, or a task that gave up
retrying leaves a row without a vector that nothing would ever embed. The sweep
(`cloud.embeddings.tasks.sweep_unembedded`, run by Celery beat) finds such rows by age and
queues them again; embedding is idempotent, so a row that was only slow is embedded once more
at worst, which the embed task notices and skips. A crop whose runs keep failing (or killing
their worker) is marked failed after `max_attempts` runs and no longer swept.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

from cloud.detections.models import Detection


class EmbedRecoverySettings(BaseModel):
    """Retries of crops without a vector (`settings.EMBED_RECOVERY`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(
        default=3,
        ge=1,
        description="Embed runs a crop gets (each counted before it starts, so one that killed "
        "its worker counts too) before it is marked failed; transient store errors do not count.",
    )
    sweep_interval_s: int = Field(
        default=60, ge=1, description="How often Celery beat runs the sweep, in seconds."
    )
    sweep_grace_s: int = Field(
        default=120,
        ge=1,
        description="Age (since the row was stored) after which a crop still without a vector is "
        "queued again. Above the usual queue delay, or a busy queue gets duplicates.",
    )
    sweep_max_per_run: int = Field(
        default=1024,
        ge=1,
        description="Most crops one sweep queues, oldest first: bounds the extra work when the "
        "queue is only slow. `python -m cloud reembed --missing` catches up on more.",
    )
    sweep_batch_size: int = Field(
        default=32, ge=1, description="Crops per embed task the sweep queues."
    )


def recovery_settings() -> EmbedRecoverySettings:
    """This process's `EmbedRecoverySettings`, from `settings.EMBED_RECOVERY`."""
    return EmbedRecoverySettings.model_validate(settings.EMBED_RECOVERY)


def detections_to_sweep(now: datetime, recovery: EmbedRecoverySettings) -> list[str]:
    """Ids of crops stored before `now` minus the grace period, still without a vector and not
    marked failed: at most `sweep_max_per_run`, oldest first."""
    cutoff = now - timedelta(seconds=recovery.sweep_grace_s)
    pending = Detection.objects.filter(
        embedded_at__isnull=True, embed_error="", received_at__lt=cutoff
    ).order_by("received_at")
    return list(pending.values_list("id", flat=True)[: recovery.sweep_max_per_run])
