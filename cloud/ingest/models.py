"""Device credentials for the gRPC ingest server.

A device authenticates every call with ``authorization: Bearer <token>``. Only a SHA-256 digest
of each token is stored: tokens are 256-bit random strings made by `cloud.ingest.credentials`,
so a slow password hash would add nothing but latency to every call, while a digest still keeps
a leaked database from yielding usable tokens. A device may hold several credentials at once,
so a token can be rotated without downtime: issue the new one, deploy it, revoke the old one.
"""

from __future__ import annotations

from django.db import models

from cloud.fleet.models import Device


class DeviceCredential(models.Model):
    """One bearer token of one device; revoked tokens stay for the audit trail."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="credentials")
    token_sha256 = models.CharField(
        max_length=64, unique=True, help_text="Lowercase hex SHA-256 of the token."
    )
    # The token's first characters, so an operator can tell which token a device holds
    # without the cloud keeping the token itself.
    hint = models.CharField(max_length=8)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("device_id", "-created_at")

    def __str__(self) -> str:
        return f"{self.device_id} {self.hint}…"
