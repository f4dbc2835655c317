"""The suggestions page of a label: crops that probably have it, to accept or reject in bulk.

Anyone logged in may look (within their cameras, `cloud.access.scope`); accepting and
rejecting need the labeler role. A verdict is a POST of the selected tracks and an action,
answered by a redirect back to the same page (so a reload never repeats it) with a message.
Bad input (an unknown action, a malformed track id) is a 400 page that says what was wrong
and keeps the selection's page; a store that cannot be reached a 503 page.
"""

from __future__ import annotations

import logging
from typing import Final

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from cloud import backends
from cloud.access import scope
from cloud.access.models import Role
from cloud.access.roles import check_role, has_role
from cloud.labels.models import Label, Value
from cloud.labels.suggestions_page import decide, suggestion_page
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.validators import validate_uuid

logger = logging.getLogger(__name__)

PAGE_SIZE: Final = 48
"""Suggested sightings per page (as the search grid)."""
MAX_PAGE: Final = 200
"""The last page offered."""
ACTIONS: Final = {"accept": Value.POSITIVE, "reject": Value.NEGATIVE}


@require_http_methods(["GET", "HEAD", "POST"])
def suggestions(request: HttpRequest, label_id: int) -> HttpResponse:
    """List the label's suggestions (GET), or accept/reject the selected ones (POST)."""
    label = Label.objects.filter(pk=label_id).first()
    if label is None:
        return render(request, "search/not_found.html", {"kind": "label"}, status=404)
    number = _page_number(request.GET.get("page", "1"))
    errors: list[str] = []
    if request.method == "POST":
        check_role(request.user, Role.LABELER)
        errors = _errors(request)
        if not errors:
            try:
                return _decide(request, label, number)
            except VectorStoreUnavailable as err:
                return _unavailable(request, "vector store", err)
    try:
        page = suggestion_page(
            label,
            scope.visible_camera_ids(request.user),
            number=number,
            size=PAGE_SIZE,
            objects=backends.object_store(),
        )
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    context = {
        "label": label,
        "page": page,
        "errors": errors,
        "may_decide": has_role(request.user, Role.LABELER),
        "last_page": number >= MAX_PAGE,
    }
    return render(request, "labels/suggestions.html", context, status=400 if errors else 200)


def _errors(request: HttpRequest) -> list[str]:
    errors = []
    if request.POST.get("action") not in ACTIONS:
        errors.append("Choose Accept or Reject.")
    for track_id in request.POST.getlist("track"):
        try:
            validate_uuid(track_id)
        except ValidationError:
            errors.append(f"{track_id[:40]!r} is not a sighting id.")
            break
    return errors


def _decide(request: HttpRequest, label: Label, number: int) -> HttpResponse:
    action = request.POST["action"]
    tracks = request.POST.getlist("track")
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Log in first.")
    if not tracks:
        messages.info(request, "Nothing selected: pick suggestions first.")
    else:
        crops = decide(
            label,
            tracks,
            ACTIONS[action],
            user,
            visible_camera_ids=scope.visible_camera_ids(user),
            vectors=backends.vector_store(),
        )
        verb = "Accepted" if action == "accept" else "Rejected"
        messages.success(
            request,
            f"{verb} {len(tracks)} suggestion{'s' if len(tracks) != 1 else ''} "
            f"({crops} crop{'s' if crops != 1 else ''} marked "
            f"{'positive' if action == 'accept' else 'negative'}).",
        )
    url = reverse("label_suggestions", args=(label.pk,))
    return HttpResponseRedirect(f"{url}?page={number}" if number > 1 else url)


def _page_number(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        return 1
    return min(max(number, 1), MAX_PAGE)


def _unavailable(request: HttpRequest, store: str, err: Exception) -> HttpResponse:
    logger.warning("suggestions page %s: %s unavailable: %s", request.path, store, err)
    return render(request, "search/unavailable.html", {"store": store}, status=503)
