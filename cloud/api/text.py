"""Text search: what a text describes, under the search pages' filters (the text page's
search, `cloud.search.text`; and the image-text plug-in's where an operator configured it)."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from cloud import backends
from cloud.api.cards import DetectionOut, detection_out
from cloud.api.filters import Filters, criteria
from cloud.api.pages import PageQuery
from cloud.errors import InvalidInput
from cloud.imagetext.model import configured_settings
from cloud.search.image_text import search_image_text
from cloud.search.results import detection_cards
from cloud.search.text import MAX_RESULTS, search_text
from cloud.search.views import SIMILAR_K
from cloud.search.vocabulary import MAX_QUERY_CHARS, NotUnderstood, TextQueryError

router = Router(tags=["search"])


class TextQuery(Filters, PageQuery):
    """The text, the filters and the page."""

    q: str = Field(
        description=f"What to look for, in words (at most {MAX_QUERY_CHARS} characters): "
        'classes and colours, e.g. "person in a red jacket".'
    )


class Understood(Schema):
    """How the query was understood."""

    summary: str = Field(description='As the page says it: "person, upper body red".')
    terms: list[str] = Field(description="Classes (or labels) asked for; any of them.")
    colours: list[str] = Field(description="Colours asked for, with their part; all of them.")
    ignored: list[str] = Field(description="Words that matched nothing, in query order.")


class TextResultsOut(Schema):
    """Detections the text describes, one per track, best first; and the image-text plug-in's
    nearest crops where it is configured."""

    understood: Understood | None = Field(
        description="Null when the vocabulary understood nothing (`not_understood` says why); "
        "the image-text results may still answer."
    )
    not_understood: str | None
    items: list[DetectionOut] = Field(
        description=f"Best first, one per track; at most {MAX_RESULTS} over all pages."
    )
    page: int
    has_next: bool
    image_text: list[DetectionOut] | None = Field(
        description="The image-text model's nearest crops, one per track, scored; null where "
        "no image-text model is configured."
    )


@router.get("", response=TextResultsOut)
def text_search(request: HttpRequest, query: Query[TextQuery]) -> TextResultsOut:
    """Detections the text `q` describes under the filters. An empty, too long or hostile
    query is a 400 that says what to type instead; so is one nothing understands, unless the
    image-text plug-in is configured to answer it."""
    wanted, _ = criteria(request, query)
    objects = backends.object_store()
    plug_in = configured_settings() is not None
    understood, not_understood, cards, has_next = None, None, [], False
    try:
        try:
            results = search_text(query.q, wanted)
        except NotUnderstood as err:
            if not plug_in:
                raise
            not_understood = str(err)
        else:
            # One more than a page tells whether there is a next one, without counting.
            rows = results.top((query.page - 1) * query.page_size, query.page_size + 1)
            cards = detection_cards(rows[: query.page_size], objects)
            has_next = len(rows) > query.page_size
            meaning = results.interpretation
            understood = Understood(
                summary=meaning.describe(),
                terms=[term.name for term in meaning.terms],
                colours=[colour.describe() for colour in meaning.colours],
                ignored=list(meaning.ignored),
            )
        image_cards = (
            search_image_text(query.q, wanted, k=SIMILAR_K, objects=objects) if plug_in else None
        )
    except TextQueryError as err:
        raise InvalidInput(str(err)) from err
    return TextResultsOut(
        understood=understood,
        not_understood=not_understood,
        items=[detection_out(request, card) for card in cards],
        page=query.page,
        has_next=has_next,
        image_text=None
        if image_cards is None
        else [detection_out(request, card) for card in image_cards],
    )
