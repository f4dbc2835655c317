"""Search by example: upload an image, pick an object or a face in it, see what matches; and
face search from the face of a stored detection.

Every refusal is a page that says what was wrong, with the status it deserves: 400 for a file
that is not a usable image, 413 for one too large, 429 for too many uploads, 410 for a link to
an upload that is no longer kept (the session keeps the latest one), 503 when a store or a
model is unavailable. Nothing here is a 500 on bad input.

The filters the upload page was opened with (from the grid's "Search by image") are kept
through the upload and on the links to each pick's results; object results take a minimum
similarity and a sort like the similar page, face results split by SFace's own threshold.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from django import forms
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from cloud import backends
from cloud.faces.recognizer import SAME_PERSON_COSINE
from cloud.faces.vectors import face_vectors
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.search.criteria import Order
from cloud.search.example import (
    ExampleSearchSettings,
    UploadAnalysis,
    analyse_upload,
    example_settings,
)
from cloud.search.forms import SearchForm
from cloud.search.links import filter_query, link_context
from cloud.search.results import CropCard, crop_cards, vector_cards, with_faces
from cloud.search.uploads import UploadRefused, decode_upload, too_large_message
from cloud.search.views import visible_cameras, visible_detection
from models.errors import ModelError

logger = logging.getLogger(__name__)

SESSION_KEY: Final = "search_example_upload"
"""Where the user's latest upload analysis is kept."""
RESULTS_K: Final = 24
"""How many tracks a results page lists."""
# Room for the multipart envelope around the file: a request larger than the file limit plus
# this is refused before its body is read.
_ENVELOPE_BYTES: Final = 64 * 1024


class UploadForm(forms.Form):
    """The upload: one image file."""

    image = forms.FileField(
        label="Photo or video frame",
        help_text="A JPEG or PNG image.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png"}),
    )


@require_http_methods(["GET", "POST"])
def example(request: HttpRequest) -> HttpResponse:
    """GET: the upload form, and the objects and faces of the latest upload (`?upload=id`).
    POST: check, detect and embed an upload, then show it (redirect to GET)."""
    config = example_settings()
    if request.method == "POST":
        return _upload(request, config)
    filters = SearchForm(request.GET, visible_camera_ids=visible_cameras(request))
    context: dict[str, object] = {
        **link_context(request, filters),
        "form": UploadForm(),
        "config": config,
        "filters": filters,
    }
    upload_id = request.GET.get("upload")
    if upload_id:
        analysis = _analysis(request, upload_id)
        if analysis is None:
            return _expired(request)
        context["analysis"] = analysis
    return render(request, "search/example.html", context)


def _upload(request: HttpRequest, config: ExampleSearchSettings) -> HttpResponse:
    def refuse(message: str, status: int) -> HttpResponse:
        context = {**link_context(request), "form": UploadForm(), "config": config}
        context["error"] = message
        return render(request, "search/example.html", context, status=status)

    if not take_upload_slot(request, config.uploads_per_minute):
        return refuse(
            f"Too many uploads: at most {config.uploads_per_minute} a minute. "
            "Wait a minute and try again.",
            429,
        )
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > config.max_upload_bytes + _ENVELOPE_BYTES:
        return refuse(too_large_message(config.max_upload_bytes), 413)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        # Django's own wording for a file that came but cannot be used (empty, no name).
        problem = str(form.errors["image"][0]) if "image" in request.FILES else ""
        return refuse(problem or "Choose an image file to upload.", 400)
    upload = form.cleaned_data["image"]
    if upload.size is not None and upload.size > config.max_upload_bytes:
        return refuse(too_large_message(config.max_upload_bytes), 413)
    try:
        image = decode_upload(
            upload.read(), max_bytes=config.max_upload_bytes, max_pixels=config.max_pixels
        )
        analysis = analyse_upload(image, config)
    except UploadRefused as err:
        return refuse(str(err), 400)
    except ModelError as err:
        logger.error("search by example unavailable: %s", err)
        return _unavailable(request, "object detector")
    request.session[SESSION_KEY] = analysis.to_session()
    # The filters the upload page was opened with carry on to the objects' results.
    filters = filter_query(request)
    return redirect(
        f"{reverse('search:example')}?upload={analysis.upload_id}{'&' if filters else ''}{filters}"
    )


@require_safe
def example_object(request: HttpRequest, upload_id: str, index: int) -> HttpResponse:
    """Tracks most like one object (or the whole image) of an upload, under the filters."""
    return _choice_results(request, upload_id, index, face=False)


@require_safe
def example_face(request: HttpRequest, upload_id: str, index: int) -> HttpResponse:
    """Stored faces most like one face of an upload, with SFace's same-person verdict."""
    return _choice_results(request, upload_id, index, face=True)


@require_safe
def detection_face(request: HttpRequest, detection_id: str) -> HttpResponse:
    """Stored faces most like the face in one stored person crop (other tracks only)."""
    # A detection of a camera the user may not see is "not found", like one that does not exist.
    detection = visible_detection(request, detection_id)
    if detection is None:
        raise Http404("no such detection")
    form = SearchForm(request.GET, visible_camera_ids=visible_cameras(request))
    context: dict[str, object] = {
        **link_context(request, form),
        "form": form,
        "detection": detection,
        "threshold": SAME_PERSON_COSINE,
    }
    try:
        objects = backends.object_store()
        context["query_card"] = crop_cards(detection.track, [detection], objects)[0]
        vectors = face_vectors()
        item = vectors.get(detection.id)
        if item is not None and form.is_valid():
            cards = vector_cards(
                item.vector,
                form.criteria(),
                vectors=vectors,
                objects=objects,
                k=RESULTS_K,
                exclude_track=detection.track_id,
            )
            context.update(_by_verdict(cards))
        context["has_face"] = item is not None
    except ObjectStoreUnavailable:
        return _unavailable(request, "object store")
    except VectorStoreUnavailable:
        return _unavailable(request, "vector store")
    return render(request, "search/face_results.html", context)


def _choice_results(
    request: HttpRequest, upload_id: str, index: int, *, face: bool
) -> HttpResponse:
    analysis = _analysis(request, upload_id)
    if analysis is None:
        return _expired(request)
    choices = analysis.faces if face else analysis.objects
    if index >= len(choices):
        return _no_such_choice(request, upload_id)
    choice = choices[index]
    # Objects are ranked by similarity like the similar page (sort, minimum score); faces are
    # split by SFace's own threshold instead.
    form = SearchForm(request.GET, visible_camera_ids=visible_cameras(request), by_score=not face)
    context: dict[str, object] = {
        **link_context(request, form),
        "form": form,
        "choice": choice,
        "analysis": analysis,
        "threshold": SAME_PERSON_COSINE,
    }
    if form.is_valid():
        try:
            cards = vector_cards(
                choice.vector,
                form.criteria(),
                vectors=face_vectors() if face else backends.vector_store(),
                objects=backends.object_store(),
                k=RESULTS_K,
                order=Order.SCORE if face else form.order(Order.SCORE),
                min_score=-1.0 if face else form.min_score(),
            )
        except ObjectStoreUnavailable:
            return _unavailable(request, "object store")
        except VectorStoreUnavailable:
            return _unavailable(request, "vector store")
        context.update(_by_verdict(cards) if face else {"cards": with_faces(cards)})
    template = "search/face_results.html" if face else "search/example_results.html"
    return render(request, template, context)


def _by_verdict(cards: list[CropCard]) -> dict[str, object]:
    """Cards split by SFace's threshold: the same person, and the closest other faces."""
    same = [card for card in cards if (card.similarity or 0.0) >= SAME_PERSON_COSINE]
    return {"same": same, "others": cards[len(same) :], "searched": True}


def _analysis(request: HttpRequest, upload_id: str) -> UploadAnalysis | None:
    """The session's upload analysis if it is the one named, else None (replaced or expired)."""
    data = request.session.get(SESSION_KEY)
    if not isinstance(data, dict) or data.get("upload_id") != upload_id:
        return None
    return UploadAnalysis.from_session(data)


def take_upload_slot(request: HttpRequest, per_minute: int) -> bool:
    """Count an upload against the user's budget for this minute; False when it is spent.

    Counted in the cache (per process with the default local-memory cache; shared with a
    shared cache), by user.
    """
    key = f"search-example-uploads:{request.user.pk}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    return cache.incr(key) <= per_minute


def _expired(request: HttpRequest) -> HttpResponse:
    return render(request, "search/example_expired.html", status=410)


def _no_such_choice(request: HttpRequest, upload_id: str) -> HttpResponse:
    context = {"upload_url": f"{reverse('search:example')}?upload={upload_id}"}
    return render(request, "search/example_missing.html", context, status=404)


def _unavailable(request: HttpRequest, what: str) -> HttpResponse:
    logger.warning("search by example %s: %s unavailable", request.path, what)
    return render(request, "search/unavailable.html", {"store": what}, status=503)
