"""The filters of a search page's request, carried into links and forms to the other search
pages, so that switching between grid, text, image and similar search keeps them."""

from __future__ import annotations

from typing import Final

from django.forms import Form
from django.http import HttpRequest

from cloud.search.vocabulary import MAX_QUERY_CHARS

NOT_FILTERS: Final = ("page", "sort", "q", "upload")
"""Parameters that belong to one page: its page number, its order (each page has its own
default: similar search sorts by score), the text query and the upload shown."""


def filter_params(request: HttpRequest) -> list[tuple[str, str]]:
    """The request's filter parameters, as (name, value) pairs in their order (for hidden
    inputs of a form to another search page)."""
    return [
        (name, value)
        for name, values in request.GET.lists()
        if name not in NOT_FILTERS
        for value in values
    ]


def filter_query(request: HttpRequest) -> str:
    """The request's filters as a query string (without "?"), for links to another page."""
    query = request.GET.copy()
    for name in NOT_FILTERS:
        query.pop(name, None)
    return query.urlencode()


def link_context(request: HttpRequest, filters: Form | None = None) -> dict[str, object]:
    """What the search pages' templates need to link onwards with the filters kept
    (``filter_query`` for links, ``filter_params`` for the search bar's hidden inputs, and
    the search bar's longest query).

    Filters that `filters` (the page's filter form) refuses are not carried on: the page says
    what is wrong with them, and links from it start unfiltered rather than broken.
    """
    valid = filters is None or filters.is_valid()
    return {
        "filter_query": filter_query(request) if valid else "",
        "filter_params": filter_params(request) if valid else [],
        "max_chars": MAX_QUERY_CHARS,
    }
