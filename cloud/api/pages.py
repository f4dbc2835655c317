"""Paging for list endpoints: ``page`` (from 1) and ``page_size``, and whether a next page
exists, found by reading one row more. No total count: at a million detections, counting the
matches would cost more than the page."""

from __future__ import annotations

from typing import Final, TypeVar

from django.db.models import Model, QuerySet
from ninja import Field, Schema

MAX_PAGE_SIZE: Final = 100
M = TypeVar("M", bound=Model)


class PageQuery(Schema):
    """The paging parameters of a list endpoint."""

    page: int = Field(1, ge=1, le=10_000, description="Page number, from 1.")
    page_size: int = Field(48, ge=1, le=MAX_PAGE_SIZE, description="Items per page.")


def page_of(rows: QuerySet[M], paging: PageQuery) -> tuple[list[M], bool]:
    """The rows of the page `paging` asks for, and whether another page follows."""
    start = (paging.page - 1) * paging.page_size
    items = list(rows[start : start + paging.page_size + 1])
    return items[: paging.page_size], len(items) > paging.page_size
