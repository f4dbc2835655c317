"""The filter form shared by the track grid and the similar-objects page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final, cast

from django import forms
from django.db.models import QuerySet

from cloud.detections.labels import track_labels
from cloud.fleet.models import Camera, CameraGroup, Site
from cloud.labels.models import Label
from cloud.search.criteria import Order, SearchCriteria
from cloud.search.similarity import DEFAULT_THRESHOLD

_PICK_SEVERAL = "Ctrl- or Cmd-click to pick several; none picks all."
# What <input type="datetime-local"> sends and shows (minutes, no time zone: the site's zone).
_LOCAL_MINUTES = "%Y-%m-%dT%H:%M"
_TIME_ORDERS: Final = [(Order.NEWEST.value, "Newest first"), (Order.OLDEST.value, "Oldest first")]
MAX_DURATION_S: Final = 366 * 24 * 3600
"""Longest duration a filter may name (a year): beyond it, a number is a typing mistake."""


def _local_datetime(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=_LOCAL_MINUTES),
    )


def _seconds(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, required=False, min_value=0, max_value=MAX_DURATION_S, help_text="Seconds."
    )


class SearchForm(forms.Form):
    """Parses the pages' query string; every field is optional, an empty choice means all.

    Sites, camera groups and cameras all pick cameras: a result's camera must be in every one
    of them that is set. Only the cameras the user may see are offered, and only they are
    searched (`SearchCriteria.visible_camera_ids`).
    """

    site = forms.ModelMultipleChoiceField(
        queryset=Site.objects.all(), required=False, help_text=_PICK_SEVERAL
    )
    group = forms.ModelMultipleChoiceField(
        label="Camera group",
        queryset=CameraGroup.objects.all(),
        required=False,
        help_text=_PICK_SEVERAL,
    )
    camera = forms.ModelMultipleChoiceField(
        queryset=Camera.objects.all(), required=False, help_text=_PICK_SEVERAL
    )
    label = forms.MultipleChoiceField(label="Class", required=False, help_text=_PICK_SEVERAL)
    user_label = forms.ModelMultipleChoiceField(
        label="Label",
        queryset=Label.objects.all(),
        required=False,
        help_text="Your labels: marked positive, or learned. " + _PICK_SEVERAL,
    )
    since = _local_datetime("From")
    until = _local_datetime("To (exclusive)")
    min_duration = _seconds("Seen at least")
    max_duration = _seconds("Seen at most")
    sort = forms.TypedChoiceField(
        required=False,
        coerce=Order,
        empty_value=None,
        choices=_TIME_ORDERS,
    )

    def __init__(
        self,
        *args: Any,
        visible_camera_ids: frozenset[int] | None = None,
        by_score: bool = False,
        **kwargs: Any,
    ) -> None:
        """`visible_camera_ids`: the cameras the user may see (None: all); `by_score`: offer
        sorting by similarity, first and by default, and a minimum similarity (similar
        search)."""
        # Labels sit above their fields, so they need no trailing colon.
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        self._visible = visible_camera_ids
        cameras: QuerySet[Camera] = Camera.objects.all()
        if visible_camera_ids is not None:
            cameras = cameras.filter(pk__in=sorted(visible_camera_ids))
            self._choices("site").queryset = Site.objects.filter(
                devices__cameras__in=cameras
            ).distinct()
            self._choices("group").queryset = CameraGroup.objects.filter(
                cameras__in=cameras
            ).distinct()
        self._choices("camera").queryset = cameras
        # The classes that occur, read once per form: a callable `choices` would query again
        # for validation and for rendering.
        labels = track_labels(visible_camera_ids)
        label_field = cast(forms.MultipleChoiceField, self.fields["label"])
        label_field.choices = [(label, label) for label in labels]
        sort = cast(forms.TypedChoiceField, self.fields["sort"])
        if by_score:
            sort.choices = [(Order.SCORE.value, "Most similar first"), *_TIME_ORDERS]
            # Empty by default: a threshold hides results, and what score means "the same
            # object" depends on the embedding; the help text suggests the calibrated one.
            self.fields["min_score"] = forms.FloatField(
                label="Minimum similarity",
                required=False,
                min_value=-1.0,
                max_value=1.0,
                widget=forms.NumberInput(attrs={"step": "0.01"}),
                help_text=(
                    "From -1 to 1; empty shows every match. From "
                    f"{DEFAULT_THRESHOLD:.2f} a match is the same object about half the time."
                ),
            )

    def _choices(self, name: str) -> forms.ModelMultipleChoiceField[Any]:
        return cast("forms.ModelMultipleChoiceField[Any]", self.fields[name])

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        if since is not None and until is not None and since >= until:
            raise forms.ValidationError("'From' must come before 'To'.")
        shortest = self.cleaned_data.get("min_duration")
        longest = self.cleaned_data.get("max_duration")
        if shortest is not None and longest is not None and shortest > longest:
            raise forms.ValidationError("'Seen at least' must not exceed 'Seen at most'.")
        return cleaned

    def order(self, default: Order) -> Order:
        """The chosen order, or `default`; call only after `is_valid()` returned True."""
        chosen: Order | None = self.cleaned_data["sort"]
        return default if chosen is None else chosen

    def min_score(self) -> float:
        """The minimum similarity asked for (-1, the lowest, when none); call only after
        `is_valid()` returned True."""
        chosen: float | None = self.cleaned_data.get("min_score")
        return -1.0 if chosen is None else chosen

    def criteria(self) -> SearchCriteria:
        """The validated criteria; call only after `is_valid()` returned True."""
        data = self.cleaned_data
        # The fields' querysets were evaluated (and cached) while validating.
        picked: frozenset[int] | None = None
        for cameras in (
            [camera.pk for camera in data["camera"]] if data["camera"] else None,
            _site_cameras(data["site"]) if data["site"] else None,
            _group_cameras(data["group"]) if data["group"] else None,
        ):
            if cameras is not None:
                chosen = frozenset(cameras)
                picked = chosen if picked is None else picked & chosen
        return SearchCriteria(
            camera_ids=picked,
            visible_camera_ids=self._visible,
            labels=tuple(data["label"]) or None,
            user_labels=tuple([label.pk for label in data["user_label"]]) or None,
            since=data["since"],
            until=data["until"],
            min_duration=_duration(data["min_duration"]),
            max_duration=_duration(data["max_duration"]),
        )


def _site_cameras(sites: QuerySet[Site]) -> list[int]:
    return list(Camera.objects.filter(device__site__in=sites).values_list("pk", flat=True))


def _group_cameras(groups: QuerySet[CameraGroup]) -> list[int]:
    return list(Camera.objects.filter(groups__in=groups).values_list("pk", flat=True))


def _duration(seconds: int | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=seconds)
