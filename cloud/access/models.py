"""A user's role and grants (one `Access` per user) and their API tokens."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from cloud.fleet.models import CameraGroup, Site


class Role(models.TextChoices):
    """What a user may do, each role including the ones before it.

    A viewer searches; a labeler also labels; an operator also manages devices, models and
    rollouts; an admin also manages users, and sees every camera.
    """

    VIEWER = "viewer", "Viewer"
    LABELER = "labeler", "Labeler"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"

    @property
    def rank(self) -> int:
        """The role's place in the order viewer < labeler < operator < admin."""
        return list(Role).index(self)


class Access(models.Model):
    """One user's role and what they may see: every camera (`all_sites`), or the cameras of
    the granted sites and camera groups. A user without one is a viewer who sees nothing."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="access"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    all_sites = models.BooleanField(
        default=False, help_text="Sees every camera, including those of sites added later."
    )
    sites = models.ManyToManyField(Site, related_name="+", blank=True)
    groups = models.ManyToManyField(CameraGroup, related_name="+", blank=True)

    class Meta:
        verbose_name_plural = "access"

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class ApiToken(models.Model):
    """A bearer token for the JSON API, acting as its user (`cloud.access.tokens`).

    Only the token's SHA-256 is kept, as for enrolment and device tokens: the token is 256
    random bits, so a slow hash would add nothing. A revoked token stays listed, with when.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What uses the token.")
    token_sha256 = models.CharField(
        max_length=64, unique=True, help_text="Lowercase hex SHA-256 of the token."
    )
    hint = models.CharField(max_length=12, help_text="The token's first characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"
