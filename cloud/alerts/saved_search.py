"""A saved search as an alert keeps it: the text as understood, the filters as parameters.

The text is understood once, when the alert is made (`cloud.search.vocabulary`), and the
interpretation is stored (`understood_json`): the embed worker then matches it with a database
query (`cloud.search.text.described`) and never loads the sentence model, and the alert keeps
meaning what its owner was shown ("understood as: person, upper body red") when labels are
added later. The filters are stored as the query parameters the search pages send
(`FILTER_NAMES`) and parsed by the one parser of filters, `cloud.search.forms.SearchForm`, with
the owner's scope at match time: a site or group then covers the cameras it has now, and a
camera the owner may no longer see makes the filters invalid, so the alert matches nothing
rather than more than its owner may see.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from django.http import QueryDict

from cloud.attributes.colours import Part
from cloud.search.criteria import SearchCriteria
from cloud.search.forms import SearchForm
from cloud.search.vocabulary import ColourTerm, Interpretation, Term

logger = logging.getLogger(__name__)

FILTER_NAMES: Final = ("site", "group", "camera", "label")
"""The search filters an alert keeps (a time range or a duration means nothing for crops yet
to come)."""


def understood_json(interpretation: Interpretation) -> dict[str, Any]:
    """What `interpretation` asks for, as stored in `Alert.understood`."""
    return {
        "terms": [{"source": term.source, "name": term.name} for term in interpretation.terms],
        "colours": [
            {"part": str(colour.part), "colour": colour.colour} for colour in interpretation.colours
        ],
    }


def interpretation_from(understood: Mapping[str, Any]) -> Interpretation:
    """The interpretation `understood_json` stored (phrasings are not kept: matching needs
    only each term's source and name)."""
    return Interpretation(
        terms=tuple(Term(t["name"], (), t["source"]) for t in understood.get("terms", ())),
        colours=tuple(
            ColourTerm(Part(c["part"]), c["colour"]) for c in understood.get("colours", ())
        ),
    )


def describe(understood: Mapping[str, Any]) -> str:
    """``person, upper body red``, as the text search page said it."""
    return interpretation_from(understood).describe()


def filter_params(query: QueryDict | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The filters among a search page's parameters, as `Alert.filters` keeps them."""
    if isinstance(query, QueryDict):
        picked = {name: query.getlist(name) for name in FILTER_NAMES}
    else:
        picked = {name: list(query.get(name, ())) for name in FILTER_NAMES}
    return {name: values for name, values in picked.items() if values}


def filters_form(
    filters: Mapping[str, Sequence[str]], visible_camera_ids: frozenset[int] | None
) -> SearchForm:
    """`SearchForm` over stored filters, offering only what the user may see."""
    data = QueryDict(mutable=True)
    for name, values in filters.items():
        data.setlist(name, [str(value) for value in values])
    return SearchForm(data, visible_camera_ids=visible_camera_ids)


def criteria(
    filters: Mapping[str, Sequence[str]], visible_camera_ids: frozenset[int] | None
) -> SearchCriteria | None:
    """The criteria of stored filters under a scope; None when they no longer hold (a camera
    deleted, or one the user may no longer see)."""
    if not filters:
        return SearchCriteria(visible_camera_ids=visible_camera_ids)
    form = filters_form(filters, visible_camera_ids)
    if not form.is_valid():
        logger.warning("saved search filters %s no longer valid: %s", filters, form.errors)
        return None
    return form.criteria()
