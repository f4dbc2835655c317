"""The fleet page's filter form and the enrolment form."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

from django import forms

from cloud.fleet.enrolment import DEFAULT_TTL, MAX_TTL
from cloud.fleet.models import CameraGroup, Device, HardwareProfile, Site, Tag
from cloud.fleet.registry import DeviceFilter, Health

_ALL = ("", "all")


class FleetFilterForm(forms.Form):
    """Parses the fleet page's query string; every field is optional, empty means all."""

    site = forms.ChoiceField(required=False)
    group = forms.ChoiceField(required=False)
    hardware = forms.ChoiceField(required=False, choices=[_ALL, *HardwareProfile.choices])
    agent_version = forms.ChoiceField(label="Agent version", required=False)
    tag = forms.ChoiceField(required=False)
    health = forms.ChoiceField(
        required=False, choices=[_ALL, *((h.value, h.value) for h in Health)]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # Choices are what exists now, read once per form.
        choices = {
            "site": Site.objects.values_list("id", flat=True),
            "group": CameraGroup.objects.order_by("name").values_list("name", flat=True),
            "agent_version": Device.objects.exclude(agent_version="")
            .order_by("agent_version")
            .values_list("agent_version", flat=True),
            "tag": Tag.objects.values_list("id", flat=True),
        }
        for name, values in choices.items():
            field = cast(forms.ChoiceField, self.fields[name])
            field.choices = [_ALL, *((v, v) for v in dict.fromkeys(values))]

    def device_filter(self) -> DeviceFilter:
        """The validated filter; call only after `is_valid()` returned True."""
        return DeviceFilter(**self.cleaned_data)


def _tags(text: str) -> list[str]:
    return [tag for tag in re.split(r"[\s,]+", text) if tag]


class EnrolmentForm(forms.Form):
    """What an operator says about the device to come."""

    site = forms.ModelChoiceField(queryset=Site.objects.all(), empty_label=None)
    hardware_profile = forms.ChoiceField(label="Hardware", choices=HardwareProfile.choices)
    device_id = forms.CharField(
        label="Device id", required=False, max_length=64, help_text="Blank: the cloud picks one."
    )
    name = forms.CharField(required=False, max_length=200)
    tags = forms.CharField(required=False, help_text="Separated by spaces or commas.")
    expires_hours = forms.IntegerField(
        label="Expires in (hours)",
        min_value=1,
        max_value=int(MAX_TTL / timedelta(hours=1)),
        initial=int(DEFAULT_TTL / timedelta(hours=1)),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def enrolment_fields(self) -> dict[str, Any]:
        """The keyword arguments of `create_enrolment`; only after `is_valid()`."""
        data = self.cleaned_data
        return {
            "site": data["site"].id,
            "hardware_profile": data["hardware_profile"],
            "device_id": data["device_id"],
            "name": data["name"],
            "tags": _tags(data["tags"]),
            "ttl": timedelta(hours=data["expires_hours"]),
        }
