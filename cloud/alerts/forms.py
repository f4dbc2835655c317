"""The form of the new-alert page: its name and how to notify; what it watches for comes with
the link that opened the page (a label, or a search's text, example and filters)."""

from __future__ import annotations

from django import forms

from cloud.alerts.models import DEFAULT_MIN_INTERVAL_S, DEFAULT_THRESHOLD
from cloud.alerts.services import MAX_MIN_INTERVAL_S


class AlertForm(forms.Form):
    """Name, threshold and channels of a new alert."""

    name = forms.CharField(max_length=100)
    threshold = forms.FloatField(
        initial=DEFAULT_THRESHOLD,
        min_value=-1.0,
        max_value=1.0,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text="A label's score (0 to 1) or the similarity to the example (-1 to 1) from "
        "which a new crop matches.",
    )
    webhook_url = forms.URLField(
        label="Webhook URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Each match is POSTed there as signed JSON.",
    )
    mqtt = forms.BooleanField(
        label="Publish on MQTT", required=False, help_text="On sightline/alerts/<alert id>."
    )
    min_interval_s = forms.IntegerField(
        label="Minimum interval",
        initial=DEFAULT_MIN_INTERVAL_S,
        min_value=0,
        max_value=MAX_MIN_INTERVAL_S,
        help_text="Seconds; matches within it are recorded and counted in the next notification.",
    )
