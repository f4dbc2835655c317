"""Settings of dataset exports from the web app (``DATASET_EXPORT`` in `cloud.settings`)."""

from __future__ import annotations

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field

MAX_URL_LIFETIME_S = 7 * 24 * 3600
"""Presigned URLs live at most 7 days (`cloud.lib.objectstore.validation`)."""


class DatasetExportSettings(BaseModel):
    """How large an export the web app builds and how long its download link lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest zip the export task builds, in bytes; a larger one fails with a "
        "message that says so. It is stored whole, so keep it within the object store's "
        "max_object_bytes (64 MiB by default).",
    )
    url_lifetime_s: int = Field(
        default=3600,
        ge=1,
        le=MAX_URL_LIFETIME_S,
        description="How long a download link of a finished export stays valid, in seconds.",
    )


def export_settings() -> DatasetExportSettings:
    """The deployment's settings, checked."""
    return DatasetExportSettings.model_validate(settings.DATASET_EXPORT)
