"""The staff form that plans and starts a rollout, and the reason an operator gives an action.

The gate bounds' fields are made from `GateBounds` itself (type, default, limits and
description), so that a bound added there appears here without a second list to keep.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

from django import forms
from pydantic.fields import FieldInfo

from cloud.deploy.models import AGENT_IMAGE_LENGTH, ModelVersion
from cloud.deploy.services import agent_version_of
from cloud.errors import InvalidInput
from cloud.fleet.models import CameraGroup, HardwareProfile, Site, Tag
from cloud.rollouts import services
from cloud.rollouts.gate import GateBounds
from cloud.rollouts.plan import DEFAULT_STAGES
from cloud.rollouts.services import RolloutRequest, Selector
from cloud.validators import validate_edge_name

RESERVED_NAMES = frozenset({"new"})
"""Names a rollout's page could not have: its address would be another page's."""

BOUND_PREFIX = "bound_"
"""Form field names of the gate bounds: the prefix, then the `GateBounds` field name."""


def _bound_field(info: FieldInfo) -> forms.Field:
    """A form field for one `GateBounds` field, with its default, limits and description."""
    limits: dict[str, Any] = {}
    for item in info.metadata:  # Pydantic keeps ge= and le= as annotated-types objects.
        for attribute, limit in (("ge", "min_value"), ("le", "max_value")):
            if getattr(item, attribute, None) is not None:
                limits[limit] = getattr(item, attribute)
    field_class = forms.IntegerField if info.annotation is int else forms.FloatField
    return field_class(initial=info.default, help_text=info.description or "", **limits)


def _numbers(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text) if part]


class RolloutForm(forms.Form):
    """What a rollout needs: a name, a model version or an agent image, the devices, stages,
    soak and bounds."""

    name = forms.CharField(max_length=64, validators=[validate_edge_name])
    model_version = forms.ModelChoiceField(
        label="Model version",
        queryset=ModelVersion.objects.order_by("name", "-uploaded_at"),
        required=False,
        empty_label="none: an agent rollout",
    )
    agent_image = forms.CharField(
        label="Agent image",
        required=False,
        max_length=AGENT_IMAGE_LENGTH,
        help_text="Instead of a model: the agent image to roll out, repository:version (devices "
        "whose host upgrades the agent, such as a Jetson set up by sightline-jetson).",
    )
    sites = forms.MultipleChoiceField(required=False, help_text="None selected: every site.")
    hardware = forms.MultipleChoiceField(
        required=False, choices=HardwareProfile.choices, help_text="None selected: any hardware."
    )
    tags = forms.MultipleChoiceField(required=False, help_text="A device needs one of them.")
    groups = forms.MultipleChoiceField(
        label="Camera groups", required=False, help_text="A device with a camera in one of them."
    )
    stages = forms.CharField(
        initial=",".join(DEFAULT_STAGES),
        help_text="Stage sizes, separated by commas: device counts (1) or shares (10%); end "
        "with 100%.",
    )
    approvals = forms.CharField(
        label="Stages needing approval",
        required=False,
        help_text="Stage numbers (from 1) that start only once an operator approves them.",
    )
    soak_s = forms.IntegerField(
        label="Soak (seconds)",
        min_value=0,
        initial=300,
        help_text="How long a stage's gate must hold before the next stage starts.",
    )
    baseline_s = forms.IntegerField(
        label="Baseline (seconds)",
        min_value=1,
        initial=600,
        help_text="How much health history before its assignment is a device's baseline.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        # Choices are what exists now, read once per form.
        choices = {
            "sites": [(site.id, str(site)) for site in Site.objects.all()],
            "tags": [(tag, tag) for tag in Tag.objects.values_list("id", flat=True)],
            "groups": [(str(group), str(group)) for group in CameraGroup.objects.all()],
        }
        for name, values in choices.items():
            cast(forms.MultipleChoiceField, self.fields[name]).choices = values
        for name, info in GateBounds.model_fields.items():
            field = _bound_field(info)
            field.label = name.replace("_", " ").capitalize()
            self.fields[BOUND_PREFIX + name] = field

    def bound_fields(self) -> list[forms.BoundField]:
        """The gate bounds' fields, for the template to show apart from the others."""
        return [self[name] for name in self.fields if name.startswith(BOUND_PREFIX)]

    def other_fields(self) -> list[forms.BoundField]:
        """Every field but the gate bounds."""
        return [self[name] for name in self.fields if not name.startswith(BOUND_PREFIX)]

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if name in RESERVED_NAMES:
            raise forms.ValidationError(f"{name!r} is the address of a page; choose another.")
        return name

    def clean_stages(self) -> tuple[str, ...]:
        stages = tuple(_numbers(self.cleaned_data["stages"]))
        if not stages:
            raise forms.ValidationError("Give at least one stage size.")
        return stages

    def clean_approvals(self) -> frozenset[int]:
        numbers = _numbers(self.cleaned_data["approvals"])
        if not all(number.isdigit() and int(number) >= 1 for number in numbers):
            raise forms.ValidationError("Give stage numbers from 1, separated by commas.")
        return frozenset(int(number) - 1 for number in numbers)

    def clean_agent_image(self) -> str:
        image: str = self.cleaned_data["agent_image"].strip()
        if image:
            try:
                agent_version_of(image)
            except InvalidInput as err:
                raise forms.ValidationError(str(err)) from err
        return image

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "agent_image" in data and (data.get("model_version") is None) == (
            not data["agent_image"]
        ):
            raise forms.ValidationError("Roll out one thing: a model version or an agent image.")
        bounds = {
            name.removeprefix(BOUND_PREFIX): value
            for name, value in data.items()
            if name.startswith(BOUND_PREFIX)
        }
        if len(bounds) == len(GateBounds.model_fields):  # Else a field error says what is wrong.
            try:
                data["bounds"] = services.parse_bounds(bounds)
            except InvalidInput as err:
                raise forms.ValidationError(str(err)) from err
        return data

    def selector(self) -> Selector:
        """The devices asked for; only after `is_valid()` returned True."""
        data = self.cleaned_data
        return Selector(
            sites=tuple(data["sites"]),
            hardware=tuple(data["hardware"]),
            tags=tuple(data["tags"]),
            groups=tuple(data["groups"]),
        )

    def request(self) -> RolloutRequest:
        """The rollout asked for; only after `is_valid()` returned True."""
        data = self.cleaned_data
        return RolloutRequest(
            name=data["name"],
            model_version_id=data["model_version"].pk if data["model_version"] else None,
            agent_image=data["agent_image"],
            selector=self.selector(),
            stages=data["stages"],
            soak=timedelta(seconds=data["soak_s"]),
            baseline=timedelta(seconds=data["baseline_s"]),
            bounds=data["bounds"],
            approvals=data["approvals"],
        )


class ActionForm(forms.Form):
    """An operator's action on a rollout, and why (for the audit log)."""

    action = forms.ChoiceField(choices=[(action, action) for action in services.ACTIONS])
    reason = forms.CharField(required=False, max_length=500)
