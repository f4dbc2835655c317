"""The filter form of the detection list."""

from __future__ import annotations

from django import forms

from cloud.detections.queries import DetectionFilter
from cloud.fleet.models import Camera


class DetectionFilterForm(forms.Form):
    """Parses the list's query string; every field is optional."""

    camera = forms.ModelChoiceField(
        queryset=Camera.objects.select_related("device"), required=False, empty_label="Any camera"
    )
    label = forms.CharField(required=False, max_length=64)
    since = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def clean(self) -> dict[str, object] | None:
        cleaned = super().clean()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since is not None and until is not None and since >= until:
            raise forms.ValidationError("'Since' must come before 'until'.")
        return cleaned

    def to_filter(self) -> DetectionFilter:
        """The validated criteria; call only after `is_valid()` returned True."""
        data = self.cleaned_data
        return DetectionFilter(
            camera=data["camera"],
            label=data["label"] or None,
            since=data["since"],
            until=data["until"],
        )
