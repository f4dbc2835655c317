"""The alerts pages: make one (from a label's page or from a search), list them, see one
alert's events, turn it on or off, delete it. Labelers and above make alerts; every user sees
their own, admins every alert (`cloud.alerts.services`)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cloud import backends
from cloud.access.models import Role
from cloud.access.roles import require_role
from cloud.access.scope import visible_camera_ids
from cloud.alerts.forms import AlertForm
from cloud.alerts.models import Alert, AlertEvent
from cloud.alerts.saved_search import describe, filter_params
from cloud.alerts.services import (
    AlertInvalid,
    AlertSpec,
    create_alert,
    delete_alert,
    get_alert,
    set_enabled,
    visible_alerts,
)
from cloud.alerts.topics import alert_topic
from cloud.errors import NotFound
from cloud.labels.models import Label
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.search.example import UploadAnalysis
from cloud.search.example_views import SESSION_KEY
from cloud.search.results import CropCard, detection_cards

EVENTS_SHOWN = 100
"""Newest events an alert's page shows."""


@require_safe
def alerts(request: HttpRequest) -> HttpResponse:
    """The alerts the user may see, newest first."""
    return render(request, "alerts/alerts.html", {"alerts": visible_alerts(request.user)})


@require_http_methods(["GET", "HEAD", "POST"])
@require_role(Role.LABELER)
def new_alert(request: HttpRequest) -> HttpResponse:
    """Make an alert on what the query string names: ``for_label=<id>``, or a search's ``q``,
    ``upload`` + ``object`` (an example picked on the search-by-image page) and filters."""
    spec, watching, problem = _watched(request)
    form = AlertForm(request.POST or None, initial={"name": watching})
    if request.method == "POST" and problem is None and form.is_valid():
        data = form.cleaned_data
        try:
            alert = create_alert(
                request.user,
                replace(
                    spec,
                    name=data["name"],
                    threshold=data["threshold"],
                    webhook_url=data["webhook_url"],
                    mqtt=data["mqtt"],
                    min_interval_s=data["min_interval_s"],
                ),
            )
        except AlertInvalid as err:
            for name, texts in err.errors.items():
                form.add_error(name if name in form.fields else None, " ".join(texts))
        else:
            messages.success(request, f"Made alert {alert.name!r}.")
            return redirect("alerts:alert", alert.pk)
    context = {"form": form, "watching": watching, "problem": problem}
    status = 400 if problem or form.errors else 200
    return render(request, "alerts/new.html", context, status=status)


def _watched(request: HttpRequest) -> tuple[AlertSpec, str, str | None]:
    """What the link asks to watch for, a description of it, and what is wrong with it."""
    query = request.GET
    label_id = query.get("for_label", "")
    if label_id:
        label = Label.objects.filter(pk=int(label_id)).first() if label_id.isdigit() else None
        if label is None:
            return AlertSpec(name=""), "", "That label does not exist (any more)."
        return AlertSpec(name="", label_id=label.pk), label.name, None
    spec = AlertSpec(name="", text=query.get("q", "").strip(), filters=filter_params(query))
    parts = [f"“{spec.text}”"] if spec.text else []
    upload, index = query.get("upload", ""), query.get("object", "")
    if upload:
        data = request.session.get(SESSION_KEY)
        if not isinstance(data, dict) or data.get("upload_id") != upload or not index.isdigit():
            return spec, "", "That uploaded image is no longer kept: upload it again."
        objects = UploadAnalysis.from_session(data).objects
        if int(index) >= len(objects):
            return spec, "", "The uploaded image has no such object."
        spec = replace(spec, example=objects[int(index)].vector)
        parts.append(f"like the {objects[int(index)].label} of the uploaded image")
    for name, values in spec.filters.items():
        parts.append(f"{name}: {', '.join(values)}")
    if not parts:
        return spec, "", "Open this page from a label or a search: it says what to watch for."
    return spec, "; ".join(parts), None


@require_safe
def alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    """One alert: what it watches for, its channels, and its newest events."""
    found = _alert_or_404(request, alert_id)
    visible = visible_camera_ids(request.user)
    events = list(
        AlertEvent.objects.filter(alert=found)
        .select_related("detection__track__camera__device", "detection__camera")
        .order_by("-matched_at", "-id")[:EVENTS_SHOWN]
    )
    # Only crops the reader may see are shown (an admin, or the owner whose scope shrank).
    shown = [e for e in events if visible is None or e.detection.camera_id in visible]
    try:
        cards: list[CropCard | None] = list(
            detection_cards([e.detection for e in shown], backends.object_store())
        )
    except ObjectStoreUnavailable:
        cards = [None] * len(shown)  # the events without their pictures
    context: dict[str, Any] = {
        "alert": found,
        "understood": describe(found.understood) if found.understood else "",
        "rows": list(zip(shown, cards, strict=True)),
        "hidden": len(events) - len(shown),
        "topic": alert_topic(settings.MQTT_BRIDGE["topic_prefix"], found.pk),
        "is_owner": found.owner_id == request.user.pk,
    }
    return render(request, "alerts/alert.html", context)


@require_POST
def enable(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Turn the alert on (``enabled=1``) or off."""
    on = request.POST.get("enabled") == "1"
    try:
        found = set_enabled(request.user, alert_id, on)
    except NotFound as err:
        raise Http404(str(err)) from err
    messages.success(request, f"Alert {found.name!r} is {'on' if on else 'off'}.")
    return redirect("alerts:alert", alert_id)


@require_POST
def delete(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Delete the alert and its events."""
    found = _alert_or_404(request, alert_id)
    delete_alert(request.user, alert_id)
    messages.success(request, f"Deleted alert {found.name!r}.")
    return redirect("alerts:alerts")


def _alert_or_404(request: HttpRequest, alert_id: int) -> Alert:
    try:
        return get_alert(request.user, alert_id)
    except NotFound as err:
        raise Http404(str(err)) from err
