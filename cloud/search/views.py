"""Server-rendered search pages."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cloud.detections.queries import DetectionFilter, filter_detections
from cloud.search.forms import DetectionFilterForm

PAGE_SIZE = 50


def detections(request: HttpRequest) -> HttpResponse:
    """List detections, newest first, filtered by camera, label and time range."""
    form = DetectionFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        # Show the errors beside no results rather than silently unfiltered ones.
        page = None
    else:
        criteria = form.to_filter() if form.is_bound else DetectionFilter()
        page = Paginator(filter_detections(criteria), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "search/detections.html", {"form": form, "page": page})
