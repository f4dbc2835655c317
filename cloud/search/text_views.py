"""The text search page: a query box above the usual filters, results best first.

The vocabulary search (`cloud.search.text`) always runs; when an operator has configured the
image-text plug-in (`cloud.imagetext`), its nearest crops are listed too, also for queries the
vocabulary does not understand. A query that cannot be searched (empty, too long, control
characters, nothing understood) is answered on the page with what to type instead, never a
stack trace. The search form can link here with ``?q=...`` and the grid's filter parameters.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cloud import backends
from cloud.imagetext.model import configured_settings
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.lib.vectorstore import VectorStoreUnavailable
from cloud.search.criteria import SearchCriteria
from cloud.search.forms import SearchForm
from cloud.search.image_text import search_image_text
from cloud.search.links import link_context
from cloud.search.results import CropCard, detection_cards, with_faces, with_user_labels
from cloud.search.text import MAX_RESULTS, search_text
from cloud.search.views import PAGE_SIZE, SIMILAR_K, visible_cameras
from cloud.search.vocabulary import NotUnderstood, TextQueryError

logger = logging.getLogger(__name__)


@require_safe
def text_search(request: HttpRequest) -> HttpResponse:
    """Detections that the text in ``q`` describes, under the page's filters."""
    form = SearchForm(request.GET, visible_camera_ids=visible_cameras(request))
    query = request.GET.get("q", "")
    context: dict[str, object] = {**link_context(request, form), "form": form, "query": query}
    if "q" not in request.GET or not form.is_valid():
        return render(request, "search/text.html", context)
    criteria = form.criteria()
    try:
        objects = backends.object_store()
        try:
            results = search_text(query, criteria)
        except NotUnderstood as err:
            context["error"] = str(err)
        else:
            number = _page_number(request)
            # One more than a page tells whether there is a next one, without counting them all.
            rows = results.top((number - 1) * PAGE_SIZE, PAGE_SIZE + 1)
            context.update(
                understood=results.interpretation,
                page_number=number,
                has_next=len(rows) > PAGE_SIZE,
                cards=with_user_labels(with_faces(detection_cards(rows[:PAGE_SIZE], objects))),
            )
        context["image_cards"] = _image_text_cards(query, criteria)
    except TextQueryError as err:
        context["error"] = str(err)
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    except VectorStoreUnavailable as err:
        return _unavailable(request, "vector store", err)
    return render(request, "search/text.html", context)


def _page_number(request: HttpRequest) -> int:
    """The ``page`` parameter; anything but a page number within `MAX_RESULTS` is page 1."""
    value = request.GET.get("page", "1")
    number = int(value) if value.isdigit() else 1
    return number if 1 <= number <= -(-MAX_RESULTS // PAGE_SIZE) else 1


def _image_text_cards(query: str, criteria: SearchCriteria) -> list[CropCard] | None:
    """The image-text model's results as cards, or None when no such model is configured."""
    if configured_settings() is None:
        return None
    return search_image_text(query, criteria, k=SIMILAR_K, objects=backends.object_store())


def _unavailable(request: HttpRequest, store: str, err: Exception) -> HttpResponse:
    logger.warning("text search: %s unavailable: %s", store, err)
    return render(request, "search/unavailable.html", {"store": store}, status=503)
