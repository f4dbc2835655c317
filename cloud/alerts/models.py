"""Alerts on what new crops show, and the record of each match.

An `Alert` belongs to its owner and matches with the owner's access scope: a crop on a camera
the owner cannot see never matches (`cloud.alerts.matching`). It matches one of two ways:

- a label (`cloud.labels.models.Label`): a new crop whose similarity or classifier `Score` for
  it is at or above `threshold`;
- a saved search: the text as text search understood it when the alert was made (`understood`,
  so the worker needs no sentence model and the meaning cannot drift when labels are added),
  an example image's crop vector (cosine at or above `threshold`), and the search filters
  (`filters`: the query parameters `cloud.search.forms.SearchForm` parses: sites, groups,
  cameras, classes). Every part that is set must hold.

Only crops received after the alert was made match, so a `reembed` of old crops never fires.
Each match is one `AlertEvent`, unique per (alert, crop): a retried embed batch finds it made and
fires nothing again. An event is notified on each channel the alert has (webhook, MQTT) unless
the alert notified less than `min_interval_s` ago; then it is recorded as suppressed and counted
in the next notification.
"""

from __future__ import annotations

import secrets
from typing import Final

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models

from cloud.detections.models import Detection, Track
from cloud.labels.models import Label

DEFAULT_THRESHOLD: Final = 0.90
"""A label's Score, or an example's cosine, from which a crop matches by default (the labels'
own default for a positive, `cloud.labels.models.DEFAULT_POSITIVE_THRESHOLD`)."""

DEFAULT_MIN_INTERVAL_S: Final = 60
"""Least seconds between two notifications of one alert by default (a person walking past a
camera gives several crops within seconds)."""


def new_secret() -> str:
    """A webhook signing secret: 256 random bits, shown to the owner on the alert's page."""
    return secrets.token_hex(32)


class Alert(models.Model):
    """What to watch new crops for, and how to notify; see the module docstring."""

    class Kind(models.TextChoices):
        LABEL = "label", "Label"
        SEARCH = "search", "Saved search"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts"
    )
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(
        auto_now_add=True, help_text="Only crops received after this match."
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    label = models.ForeignKey(
        Label, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts"
    )
    threshold = models.FloatField(
        default=DEFAULT_THRESHOLD,
        help_text="Least label score (0 to 1) or similarity to the example (-1 to 1).",
    )
    text = models.CharField(
        max_length=200, blank=True, default="", help_text="The text query as typed."
    )
    understood = models.JSONField(
        default=dict,
        blank=True,
        help_text='How the text was understood: {"terms": [{"source", "name"}], '
        '"colours": [{"part", "colour"}]}.',
    )
    example_vector = models.BinaryField(
        null=True, blank=True, help_text="The example's unit crop vector, float32."
    )
    example_collection = models.CharField(
        max_length=100, blank=True, default="", help_text="The crop vectors it belongs to."
    )
    filters = models.JSONField(
        default=dict,
        blank=True,
        help_text="Search filters as SearchForm parameters: site, group, camera, label lists.",
    )
    webhook_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        validators=[URLValidator(schemes=["http", "https"])],
    )
    secret = models.CharField(
        max_length=64, default=new_secret, help_text="Signs webhook bodies (HMAC-SHA256)."
    )
    mqtt = models.BooleanField(default=False, help_text="Publish matches on the broker.")
    min_interval_s = models.PositiveIntegerField(default=DEFAULT_MIN_INTERVAL_S)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    suppressed_count = models.PositiveIntegerField(
        default=0, help_text="Matches suppressed since the last notification."
    )

    class Meta:
        constraints = (
            models.CheckConstraint(
                condition=models.Q(kind="search") | models.Q(label__isnull=False),
                name="alerts_label_alert_has_label",
            ),
        )
        indexes = (models.Index(fields=("owner", "-created_at"), name="alerts_owner"),)
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.name


class Delivery(models.TextChoices):
    """Where one event stands on one channel."""

    NONE = "", "Not sent"
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AlertEvent(models.Model):
    """One crop that matched one alert, once; with its delivery on each channel."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    detection = models.ForeignKey(Detection, on_delete=models.CASCADE, related_name="+")
    track = models.ForeignKey(Track, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(
        null=True, blank=True, help_text="The label score or similarity that matched, if any."
    )
    matched_at = models.DateTimeField()
    suppressed = models.BooleanField(
        default=False, help_text="Within the alert's minimum interval: recorded, not sent."
    )
    suppressed_before = models.PositiveIntegerField(
        default=0, help_text="Matches suppressed since the previous notification."
    )
    webhook = models.CharField(max_length=8, choices=Delivery.choices, blank=True, default="")
    webhook_attempts = models.PositiveIntegerField(default=0)
    webhook_error = models.CharField(max_length=500, blank=True, default="")
    webhook_at = models.DateTimeField(null=True, blank=True)
    mqtt = models.CharField(max_length=8, choices=Delivery.choices, blank=True, default="")
    mqtt_error = models.CharField(max_length=500, blank=True, default="")
    mqtt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("alert", "detection"), name="alert_events_once"),
        )
        indexes = (
            models.Index(fields=("alert", "-matched_at"), name="alert_events_alert"),
            # The bridge's pass over what waits for the broker.
            models.Index(
                fields=("matched_at",),
                condition=models.Q(mqtt="pending"),
                name="alert_events_mqtt_pending",
            ),
        )
        ordering = ("-matched_at", "-id")

    def __str__(self) -> str:
        return f"{self.alert_id}/{self.detection_id}"
