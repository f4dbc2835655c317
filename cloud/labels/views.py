"""The label pages: the list of labels, a label's page (its positives, negatives, history with
undo, thresholds), and the labelling page, where a crop and its similar crops are marked.

Every user sees every label, and of its marks those on their cameras; labelers and above make,
rename and delete labels and mark crops (`cloud.labels.scope`: 403 for a lower role, then 404
for a crop or batch outside the user's cameras). Marking works as plain form posts; the
labelling page's script (``labels/marking.js``) adds selection by click, shift-click and
select-all, and the keys P, N, C and Z. A marked sighting (track) is marked by the crop its
card shows: the best crop on the grid, the crop most like the query in similar results.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Final

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cloud import backends
from cloud.access.models import Role
from cloud.access.roles import has_role
from cloud.access.scope import visible_camera_ids
from cloud.detections.models import Detection
from cloud.errors import InvalidInput, NotFound
from cloud.labels import marks as marking
from cloud.labels.forms import ACTIONS, LabelSettingsForm, MarkForm, NewLabelForm
from cloud.labels.models import Label, MarkEvent, Value
from cloud.labels.scope import crops_within, require_labeler, visible_batch, visible_crops
from cloud.labels.services import (
    counted,
    create_label,
    history,
    last_batch,
    marked,
    marks_of,
    update_label,
)
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.search.forms import SearchForm
from cloud.search.links import link_context
from cloud.search.results import CropCard, detection_cards
from cloud.search.views import similar_by_form

logger = logging.getLogger(__name__)

SHOWN: Final = 48
"""Positives, negatives and similar crops shown per list."""


@require_http_methods(["GET", "HEAD", "POST"])
def labels(request: HttpRequest) -> HttpResponse:
    """Every label with its positives and negatives on the user's cameras; POST makes one
    (then opens the labelling page when it was made from a crop, else the label's page)."""
    form = NewLabelForm(request.POST or None)
    crop = request.POST.get("crop", "")
    if request.method == "POST":
        require_labeler(request.user)
        if form.is_valid():
            try:
                label = create_label(
                    form.cleaned_data["name"],
                    request.user,
                    description=form.cleaned_data["description"],
                )
            except InvalidInput as err:
                form.add_error("name", str(err))
            else:
                messages.success(request, f"Made the label {label.name!r}.")
                if crop:
                    return redirect("labels:labelling", label_id=label.pk, detection_id=crop)
                return redirect("labels:label", label_id=label.pk)
    rows = counted(Label.objects.select_related("created_by"), visible_camera_ids(request.user))
    return render(
        request,
        "labels/labels.html",
        {"labels": rows, "form": form},
        status=400 if form.errors else 200,
    )


@require_safe
def label(request: HttpRequest, label_id: int) -> HttpResponse:
    """One label: its positives and negatives, its history with an undo per action, and (for
    labelers) its name and thresholds."""
    found = get_object_or_404(Label, pk=label_id)
    return _label_page(request, found, LabelSettingsForm.of(found))


@require_POST
def edit(request: HttpRequest, label_id: int) -> HttpResponse:
    """Rename the label or change its description or thresholds."""
    require_labeler(request.user)
    found = get_object_or_404(Label, pk=label_id)
    form = LabelSettingsForm(request.POST)
    if form.is_valid():
        try:
            update_label(found, **form.cleaned_data)
        except InvalidInput as err:
            form.add_error(None, str(err))
        else:
            messages.success(request, "Saved the label's settings.")
            return redirect("labels:label", label_id=found.pk)
    return _label_page(request, found, form, status=400)


@require_POST
def delete(request: HttpRequest, label_id: int) -> HttpResponse:
    """Delete the label, with its marks and history (only when the form confirms it)."""
    require_labeler(request.user)
    found = get_object_or_404(Label, pk=label_id)
    if request.POST.get("confirm") != found.name:
        return _refused(
            request,
            400,
            "Not deleted",
            f"Type the label's name, {found.name!r}, to confirm: deleting it also deletes its "
            "marks and their history.",
            reverse("labels:label", args=[found.pk]),
        )
    found.delete()
    messages.success(request, f"Deleted the label {found.name!r} and its marks.")
    return redirect("labels:labels")


@require_safe
def crop_labels(request: HttpRequest, detection_id: str) -> HttpResponse:
    """Label one crop: its marks so far, and every label to mark it with (or a new one)."""
    crop = _visible_crop(visible_camera_ids(request.user), detection_id)
    if crop is None:
        return _not_found(request, "crop")
    try:
        (card,) = detection_cards([crop], backends.object_store())
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    current = dict(crop.marks.values_list("label_id", "value"))
    rows = [(row, current.get(row.pk)) for row in Label.objects.all()]
    return render(
        request,
        "labels/crop.html",
        {"card": card, "detection": crop, "labels": rows, "form": NewLabelForm()},
    )


@require_safe
def labelling(request: HttpRequest, label_id: int, detection_id: str) -> HttpResponse:
    """Mark a crop and the crops most like it with one label, under the search filters."""
    found = get_object_or_404(Label, pk=label_id)
    cameras = visible_camera_ids(request.user)
    crop = _visible_crop(cameras, detection_id)
    if crop is None:
        return _not_found(request, "crop")
    form = SearchForm(request.GET, visible_camera_ids=cameras, by_score=True)
    context: dict[str, object] = {
        "label": found,
        "detection": crop,
        "form": form,
        "labels": Label.objects.exclude(pk=found.pk),
        **link_context(request, form),
    }
    try:
        objects = backends.object_store()
        (query,) = detection_cards([crop], objects)
        cards: list[CropCard] | None = None
        if form.is_valid():
            try:
                cards = similar_by_form(crop, form, k=SHOWN)
            except VectorStoreUnavailable as err:
                logger.warning("labelling page: vector store unavailable: %s", err)
                context["similar_unavailable"] = True
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    context.update(
        query_card=_marked(found, [query])[0],
        cards=None if cards is None else _marked(found, cards),
        **_marking_context(request, found),
    )
    return render(request, "labels/labelling.html", context)


@require_POST
def mark(request: HttpRequest, label_id: int) -> HttpResponse:
    """Mark the selected crops (``detection``, repeated) positive or negative, or clear them,
    as one action; then back to ``next``."""
    require_labeler(request.user)
    found = get_object_or_404(Label, pk=label_id)
    back = _next(request, found)
    form = MarkForm(request.POST)
    selected = request.POST.getlist("detection")
    if not form.is_valid() or not selected:
        problem = "Choose positive, negative or clear." if selected else "Select crops first."
        return _refused(request, 400, "Nothing marked", problem, back)
    try:
        visible_crops(request.user, selected)
        batch = marking.apply_marks(found, form.changes(selected), request.user)
    except NotFound:
        return _not_found(request, "crop")
    except InvalidInput as err:
        return _refused(request, 400, "Nothing marked", str(err), back)
    changed = MarkEvent.objects.filter(batch=batch).count()
    action = dict(ACTIONS)[form.cleaned_data["value"]]
    messages.success(
        request,
        f"{action}: {changed} of {len(selected)} crops changed for {found.name!r}."
        if changed
        else f"Nothing changed: the crops were {action.lower()} already.",
    )
    return redirect(back)


@require_POST
def undo(request: HttpRequest, label_id: int) -> HttpResponse:
    """Undo one action (``batch``) on the label's marks; then back to ``next``."""
    require_labeler(request.user)
    found = get_object_or_404(Label, pk=label_id)
    back = _next(request, found)
    try:
        batch = uuid.UUID(request.POST.get("batch", ""))
    except ValueError:
        return _refused(request, 400, "Nothing undone", "There is no action to undo.", back)
    try:
        visible_batch(request.user, batch, label_id=found.pk)
        marking.undo(batch, request.user)
    except NotFound:
        return _not_found(request, "action")
    except marking.UndoRefused as err:
        return _refused(request, 409, "Not undone", str(err), back)
    messages.success(request, f"Undone: the marks of {found.name!r} are back as they were.")
    return redirect(back)


def _label_page(
    request: HttpRequest, found: Label, settings_form: LabelSettingsForm, status: int = 200
) -> HttpResponse:
    cameras = visible_camera_ids(request.user)
    try:
        objects = backends.object_store()
        positives = detection_cards(
            [row.detection for row in marked(found, Value.POSITIVE, cameras)[:SHOWN]], objects
        )
        negatives = detection_cards(
            [row.detection for row in marked(found, Value.NEGATIVE, cameras)[:SHOWN]], objects
        )
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    context = {
        "label": found,
        "positives": _marked(found, positives),
        "negatives": _marked(found, negatives),
        "history": history(found, cameras),
        "settings_form": settings_form,
        **_marking_context(request, found),
    }
    return render(request, "labels/label.html", context, status=status)


@dataclass(frozen=True)
class MarkedCard:
    """A search result card with its crop's mark for the label of the page (None: unmarked)."""

    card: CropCard
    mark: str | None


def _marked(found: Label, cards: list[CropCard]) -> list[MarkedCard]:
    current = marks_of(found, [card.detection.id for card in cards])
    return [MarkedCard(card, current.get(card.detection.id)) for card in cards]


def _marking_context(request: HttpRequest, found: Label) -> dict[str, object]:
    """What the marking form needs besides its cards: whether the user may mark, the action
    Z undoes, and where to come back to."""
    can_mark = has_role(request.user, Role.LABELER)
    return {
        "can_mark": can_mark,
        "undo_batch": last_batch(found, request.user) if can_mark else None,
        "here": request.get_full_path(),
    }


def _visible_crop(cameras: frozenset[int] | None, detection_id: str) -> Detection | None:
    try:
        return crops_within(cameras, [detection_id])[detection_id]
    except NotFound:
        return None


def _next(request: HttpRequest, found: Label) -> str:
    """Where to go after an action: ``next`` when it is a path of this site, else the label."""
    wanted = request.POST.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return reverse("labels:label", args=[found.pk])


def _refused(
    request: HttpRequest, status: int, title: str, problem: str, back: str
) -> HttpResponse:
    return render(
        request,
        "labels/refused.html",
        {"title": title, "problem": problem, "back": back},
        status=status,
    )


def _not_found(request: HttpRequest, kind: str) -> HttpResponse:
    return render(request, "search/not_found.html", {"kind": kind}, status=404)


def _unavailable(request: HttpRequest, store: str, err: Exception) -> HttpResponse:
    logger.warning("label page %s: %s unavailable: %s", request.path, store, err)
    return render(request, "search/unavailable.html", {"store": store}, status=503)
