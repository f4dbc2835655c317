"""The filter form shared by the detection grid and the similar-objects page."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from cloud.detections.models import Detection
from cloud.fleet.models import Camera
from cloud.search.criteria import SearchCriteria

_PICK_SEVERAL = "Ctrl- or Cmd-click to pick several; none picks all."
# What <input type="datetime-local"> sends and shows (minutes, no time zone: the site's zone).
_LOCAL_MINUTES = "%Y-%m-%dT%H:%M"


def _local_datetime(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_MINUTES),
    )


class SearchForm(forms.Form):
    """Parses the pages' query string; every field is optional, an empty choice means all."""

    camera = forms.ModelMultipleChoiceField(
        queryset=Camera.objects.all(), required=False, help_text=_PICK_SEVERAL
    )
    label = forms.MultipleChoiceField(label="Class", required=False, help_text=_PICK_SEVERAL)
    since = _local_datetime("From")
    until = _local_datetime("To (exclusive)")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Labels sit above their fields, so they need no trailing colon.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # The classes that occur, read once per form: a callable `choices` would query again
        # for validation and for rendering.
        labels = Detection.objects.order_by("label").values_list("label", flat=True).distinct()
        label_field = cast(forms.MultipleChoiceField, self.fields["label"])
        label_field.choices = [(label, label) for label in labels]

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since is not None and until is not None and since >= until:
            raise forms.ValidationError("'From' must come before 'To'.")
        return cleaned

    def criteria(self) -> SearchCriteria:
        """The validated criteria; call only after `is_valid()` returned True."""
        data = self.cleaned_data
        # The field's queryset was evaluated (and cached) while validating: no second query.
        return SearchCriteria(
            camera_ids=tuple(sorted(camera.pk for camera in data["camera"])) or None,
            labels=tuple(data["label"]) or None,
            since=data["since"],
            until=data["until"],
        )
