"""The label pages' forms: a new label, a label's name and thresholds, and a mark action."""

from __future__ import annotations

from typing import Final

from django import forms

from cloud.labels.models import Label, Value
from cloud.labels.services import MAX_NAME

CLEAR: Final = "clear"
"""The mark action that removes a crop's mark."""
ACTIONS: Final = [
    (Value.POSITIVE.value, "Positive"),
    (Value.NEGATIVE.value, "Negative"),
    (CLEAR, "Clear"),
]


def _cosine(label: str, help_text: str) -> forms.FloatField:
    return forms.FloatField(
        label=label,
        min_value=-1.0,
        max_value=1.0,
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text=help_text,
    )


class NewLabelForm(forms.Form):
    """A new label's name (unique whatever its case) and what it is for."""

    name = forms.CharField(max_length=MAX_NAME, help_text='What to call it, e.g. "delivery van".')
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Optional."
    )


class LabelSettingsForm(NewLabelForm):
    """A label's name, description and spreading thresholds (`cloud.labels.spreading`); the
    services check the name and the thresholds (`cloud.labels.services`)."""

    positive_threshold = _cosine(
        "Positive threshold",
        "Crops at least this similar to a positive are suggested (cosine; default 0.90).",
    )
    negative_threshold = _cosine(
        "Negative threshold",
        "Crops at least this similar to a negative are its near-copies and never suggested "
        "(default 0.99).",
    )

    @classmethod
    def of(cls, label: Label) -> LabelSettingsForm:
        """The form filled in with the label's current settings."""
        return cls(
            initial={
                "name": label.name,
                "description": label.description,
                "positive_threshold": label.positive_threshold,
                "negative_threshold": label.negative_threshold,
            }
        )


class MarkForm(forms.Form):
    """What to do to the selected crops (their ids come as repeated ``detection`` fields)."""

    value = forms.ChoiceField(choices=ACTIONS)

    def changes(self, detection_ids: list[str]) -> dict[str, Value | None]:
        """The change of each crop; call only after `is_valid()` returned True."""
        action = self.cleaned_data["value"]
        value = None if action == CLEAR else Value(action)
        return dict.fromkeys(detection_ids, value)
