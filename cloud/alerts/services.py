"""Making, listing and changing alerts: what the pages and the API share.

Labelers and above make alerts (a viewer only searches); each user sees and changes their own,
admins every alert. What an alert matches is checked when it is made, with the owner's scope:
the text must be understood (`cloud.search.vocabulary`), the filters must be ones the owner's
search form accepts, the label must exist, a webhook must be an http(s) URL. A refusal is an
`AlertInvalid` naming the field, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import QuerySet

from cloud import backends
from cloud.access.models import Role
from cloud.access.roles import User, check_role, has_role, user_pk
from cloud.access.scope import visible_camera_ids
from cloud.alerts.models import DEFAULT_MIN_INTERVAL_S, DEFAULT_THRESHOLD, Alert
from cloud.alerts.saved_search import FILTER_NAMES, filters_form, understood_json
from cloud.errors import InvalidInput, NotFound
from cloud.labels.models import Label
from cloud.search.vocabulary import TextQueryError, Vocabulary, vocabulary

MAX_MIN_INTERVAL_S = 7 * 24 * 3600
"""Longest minimum interval (a week): beyond it, a number is a typing mistake."""


class AlertInvalid(InvalidInput):
    """An alert that cannot be made as asked; `errors` by field, for the person who asked."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors = {name: list(messages) for name, messages in errors.items()}
        super().__init__(
            "; ".join(f"{name}: {' '.join(texts)}" for name, texts in self.errors.items())
        )


@dataclass(frozen=True)
class AlertSpec:
    """What to watch for and how to notify: a label, or a saved search (text, an example's
    crop vector, filters as `cloud.alerts.saved_search.FILTER_NAMES` parameters)."""

    name: str
    label_id: int | None = None
    text: str = ""
    example: npt.NDArray[np.float32] | None = None
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    threshold: float = DEFAULT_THRESHOLD
    webhook_url: str = ""
    mqtt: bool = False
    min_interval_s: int = DEFAULT_MIN_INTERVAL_S


def create_alert(owner: User, spec: AlertSpec, *, words: Vocabulary | None = None) -> Alert:
    """Make `owner`'s alert; `PermissionDenied` below the labeler role, `AlertInvalid` for
    what cannot be matched or sent. `words` defaults to the process's vocabulary (it is
    loaded only for a text)."""
    check_role(owner, Role.LABELER)
    errors: dict[str, list[str]] = {}
    alert = Alert(
        owner_id=user_pk(owner),
        name=spec.name.strip(),
        threshold=spec.threshold,
        webhook_url=spec.webhook_url.strip(),
        mqtt=spec.mqtt,
        min_interval_s=spec.min_interval_s,
        filters={name: [str(v) for v in spec.filters[name]] for name in spec.filters},
    )
    if not alert.name or len(alert.name) > 100:
        errors["name"] = ["Give the alert a name of 1 to 100 characters."]
    if unknown := sorted(set(spec.filters) - set(FILTER_NAMES)):
        errors["filters"] = [f"Unknown filters {unknown}; known: {list(FILTER_NAMES)}."]
    elif alert.filters:
        form = filters_form(alert.filters, visible_camera_ids(owner))
        if not form.is_valid():
            errors["filters"] = [
                f"{name}: {' '.join(str(m) for m in messages)}"
                for name, messages in form.errors.items()
            ]
    if spec.label_id is not None:
        alert.kind = Alert.Kind.LABEL
        alert.label = Label.objects.filter(pk=spec.label_id).first()
        if alert.label is None:
            errors["label"] = [f"There is no label {spec.label_id}."]
        if spec.text or spec.example is not None:
            errors["label"] = ["An alert follows a label or a search, not both."]
        if not 0.0 <= spec.threshold <= 1.0:
            errors["threshold"] = ["A label's score runs from 0 to 1."]
    else:
        alert.kind = Alert.Kind.SEARCH
        _saved_search(alert, spec, words, errors)
    if not (-1.0 <= spec.threshold <= 1.0):
        errors.setdefault("threshold", ["A similarity runs from -1 to 1."])
    if alert.webhook_url:
        try:
            URLValidator(schemes=["http", "https"])(alert.webhook_url)
        except ValidationError:
            errors["webhook_url"] = ["Give an http:// or https:// URL."]
    if not 0 <= spec.min_interval_s <= MAX_MIN_INTERVAL_S:
        errors["min_interval_s"] = [f"From 0 to {MAX_MIN_INTERVAL_S} seconds."]
    if errors:
        raise AlertInvalid(errors)
    alert.save()
    return alert


def _saved_search(
    alert: Alert, spec: AlertSpec, words: Vocabulary | None, errors: dict[str, list[str]]
) -> None:
    text = spec.text.strip()
    if text:
        try:
            alert.understood = understood_json((words or vocabulary()).parse(text))
        except TextQueryError as err:
            errors["text"] = [str(err)]
        alert.text = text
    if spec.example is not None:
        vector = np.asarray(spec.example, dtype=np.float32).ravel()
        norm = float(np.linalg.norm(vector))
        if vector.size == 0 or not np.isfinite(norm) or norm == 0.0:
            errors["example"] = ["The example has no usable vector."]
        else:
            alert.example_vector = (vector / norm).tobytes()
            alert.example_collection = backends.crop_collection()
    if not text and spec.example is None and not alert.filters:
        errors["request"] = ["Say what to watch for: a label, a text, an example or filters."]


def visible_alerts(user: User) -> QuerySet[Alert]:
    """The alerts `user` may see and change: their own; every alert for an admin."""
    alerts = Alert.objects.select_related("owner", "label")
    if has_role(user, Role.ADMIN):
        return alerts
    return alerts.filter(owner_id=user_pk(user))


def get_alert(user: User, alert_id: int) -> Alert:
    """One of `visible_alerts`; `NotFound` otherwise (never saying whose it is)."""
    alert = visible_alerts(user).filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


def set_enabled(user: User, alert_id: int, enabled: bool) -> Alert:
    """Turn an alert on or off; `NotFound` unless `user` may see it."""
    alert = get_alert(user, alert_id)
    Alert.objects.filter(pk=alert.pk).update(enabled=enabled)
    alert.enabled = enabled
    return alert


def delete_alert(user: User, alert_id: int) -> None:
    """Delete an alert and its events; `NotFound` unless `user` may see it."""
    get_alert(user, alert_id).delete()
