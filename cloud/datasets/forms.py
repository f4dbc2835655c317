"""The export form: which labels, which format, and the options of `ExportOptions`."""

from __future__ import annotations

from django import forms

from cloud.datasets.selection import DatasetFormat, ExportOptions
from cloud.labels.models import Label

_DEFAULTS = ExportOptions.model_fields


def _help(name: str) -> str:
    return _DEFAULTS[name].description or ""


class ExportForm(forms.Form):
    """What a labeler asks of an export (defaults and descriptions from `ExportOptions`)."""

    labels = forms.ModelMultipleChoiceField(
        queryset=Label.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        help_text="Each label is a class; its positive marks are the boxes.",
    )
    format = forms.ChoiceField(
        choices=[(DatasetFormat.COCO.value, "COCO"), (DatasetFormat.YOLO.value, "YOLO")],
        initial=DatasetFormat.COCO.value,
        widget=forms.RadioSelect,
    )
    min_classifier_confidence = forms.FloatField(
        label="Also confident classifier scores from",
        required=False,
        min_value=0.01,
        max_value=1.0,
        help_text=_help("min_classifier_confidence"),
    )
    crops_without_context = forms.BooleanField(
        label="Export crops without a context frame",
        required=False,
        help_text=_help("crops_without_context"),
    )
    hard_negatives = forms.BooleanField(
        label="Add hard negatives", required=False, help_text=_help("hard_negatives")
    )
    val_fraction = forms.FloatField(
        label="Validation share",
        initial=_DEFAULTS["val_fraction"].default,
        min_value=0.0,
        max_value=0.9,
        help_text=_help("val_fraction"),
    )

    def options(self) -> ExportOptions:
        """The options asked for; call after `is_valid()`."""
        data = self.cleaned_data
        return ExportOptions(
            labels=tuple(label.name for label in data["labels"]),
            min_classifier_confidence=data["min_classifier_confidence"],
            crops_without_context=data["crops_without_context"],
            hard_negatives=data["hard_negatives"],
            val_fraction=data["val_fraction"],
        )
