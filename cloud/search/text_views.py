"""The text search page: a query box above the usual filters, results best first.

The query is understood through the vocabulary (`cloud.search.text`). A query that cannot be
searched (empty, too long, control characters, nothing understood) is answered on the page with
what to type instead, never a stack trace. The search form can link here with ``?q=...`` and
the grid's filter parameters.
"""

from __future__ import annotations

import logging

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cloud import backends
from cloud.lib.objectstore import ObjectStoreUnavailable
from cloud.search.forms import SearchForm
from cloud.search.results import crop_cards
from cloud.search.text import MAX_RESULTS, search_text
from cloud.search.views import PAGE_SIZE
from cloud.search.vocabulary import MAX_QUERY_CHARS, TextQueryError

logger = logging.getLogger(__name__)


@require_safe
def text_search(request: HttpRequest) -> HttpResponse:
    """Detections that the text in ``q`` describes, under the page's filters."""
    form = SearchForm(request.GET)
    query = request.GET.get("q", "")
    context: dict[str, object] = {"form": form, "query": query, "max_chars": MAX_QUERY_CHARS}
    if "q" not in request.GET or not form.is_valid():
        return render(request, "search/text.html", context)
    criteria = form.criteria()
    try:
        objects = backends.object_store()
        results = search_text(query, criteria)
        page = Paginator(results.detections[:MAX_RESULTS], PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        context.update(
            understood=results.interpretation, page=page, cards=crop_cards(page, objects)
        )
    except TextQueryError as err:
        context["error"] = str(err)
    except ObjectStoreUnavailable as err:
        return _unavailable(request, "object store", err)
    return render(request, "search/text.html", context)


def _unavailable(request: HttpRequest, store: str, err: Exception) -> HttpResponse:
    logger.warning("text search: %s unavailable: %s", store, err)
    return render(request, "search/unavailable.html", {"store": store}, status=503)
