"""Text search over what the system knows: a query understood through the vocabulary
(`cloud.search.vocabulary`), then answered by the database under the page's filters.

Public surface: `TextResults`, `search_text(query, criteria, ...)` and `described`.

The understood classes (or labels) filter the detections; each colour asked for must be one of
the two most common colours of its part (`cloud.attributes.models.DetectionColours`), and the
results run by the summed shares of the colours asked for, most first, then newest first. A
query without colours lists the matching tracks newest first, as the grid does.

Why the ranking is shaped as it is: a single colour (the usual query) is answered as two
queries, one over the crops whose main colour of that part it is, by share, and one over those
whose second colour it is, each walking its (colour, share) index in order and stopping after a
page, merged here. One query ranked by a computed share would have to compute and sort every
matching row: at a million detections, unfiltered, 0.4-0.5 s that way against 32-40 ms this way
(tests/bench/bench_text_scale.py). Several colours narrow the rows enough to rank them in one
query. Still slow (0.2-1 s): a narrow camera and time filter with a colour that few of those
rows have, where an index walk in share order passes many rows before it fills a page. A track
shows once, by its best crop (`SearchCriteria.best_detections`), as on the grid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from django.db.models import Case, F, FloatField, Q, QuerySet, Value, When
from django.db.models.expressions import Combinable

from cloud.attributes.models import PAIRS
from cloud.detections.models import Detection
from cloud.search.criteria import SearchCriteria
from cloud.search.vocabulary import (
    Interpretation,
    TermSource,
    Vocabulary,
    term_sources,
    vocabulary,
)

MAX_RESULTS: Final = 500
"""Most tracks one text query lists (pages included): beyond that, narrow the query."""


@dataclass(frozen=True)
class TextResults:
    """What a text query found: `top` lists it, best first, one crop per track."""

    interpretation: Interpretation
    ranked: tuple[QuerySet[Detection], ...]
    """Disjoint queries, each ordered best first by its ``colour_rank`` (or time), to merge."""

    def top(self, offset: int, limit: int) -> list[Detection]:
        """Results `offset` to `offset + limit` (at most up to `MAX_RESULTS`), best first."""
        end = min(offset + limit, MAX_RESULTS)
        if end <= offset:
            return []
        if len(self.ranked) == 1:
            return list(self.ranked[0][offset:end])
        rows = [row for ranked in self.ranked for row in ranked[:end]]
        rows.sort(key=lambda row: (getattr(row, "colour_rank", 0.0), row.ts, row.id), reverse=True)
        return rows[offset:end]


def search_text(
    query: str,
    criteria: SearchCriteria,
    *,
    words: Vocabulary | None = None,
    sources: list[TermSource] | None = None,
) -> TextResults:
    """Understand `query` and find the detections it describes that match `criteria`.

    Raises `cloud.search.vocabulary.TextQueryError` (its message is for the user) when the
    query is empty, too long, hostile or understood as nothing.
    """
    interpretation = (words or vocabulary()).parse(query)
    detections = _restricted(criteria, interpretation, sources or term_sources())
    order = ("-colour_rank", "-ts", "-id")
    if len(interpretation.colours) == 1:
        (colour,) = interpretation.colours
        (main, main_share), (second, second_share) = PAIRS[colour.part]
        by_main = detections.filter(**{f"colours__{main}": colour.colour})
        by_second = detections.filter(**{f"colours__{second}": colour.colour})
        ranked = (
            by_main.annotate(colour_rank=F(f"colours__{main_share}")).order_by(*order),
            by_second.annotate(colour_rank=F(f"colours__{second_share}")).order_by(*order),
        )
        return TextResults(interpretation, ranked)
    if interpretation.colours:
        rank: Combinable = Value(0.0, output_field=FloatField())
        for colour in interpretation.colours:
            detections = detections.filter(_has(colour.part, colour.colour))
            rank = rank + _share(colour.part, colour.colour)
        detections = detections.annotate(colour_rank=rank).order_by(*order)
    return TextResults(interpretation, (detections,))


def described(
    detections: QuerySet[Detection],
    interpretation: Interpretation,
    sources: Sequence[TermSource],
) -> QuerySet[Detection]:
    """`detections` cut down to those `interpretation` describes, unranked: of any of its
    terms of each source (a class, a label), with every colour asked for among the two main
    colours of its part. For matching a few given crops (alerts), where `search_text` ranks
    the best crops of every matching track."""
    by_source = _by_source(interpretation)
    for source in sources:
        names = by_source.get(source.kind)
        if names:
            detections = source.filter(detections, names)
    for colour in interpretation.colours:
        detections = detections.filter(_has(colour.part, colour.colour))
    return detections


def _by_source(interpretation: Interpretation) -> dict[str, list[str]]:
    by_source: dict[str, list[str]] = defaultdict(list)
    for term in interpretation.terms:
        by_source[term.source].append(term.name)
    return by_source


def _restricted(
    criteria: SearchCriteria, interpretation: Interpretation, sources: list[TermSource]
) -> QuerySet[Detection]:
    by_source = _by_source(interpretation)
    classes = by_source.pop("class", None)
    if classes is not None and criteria.labels is not None:
        # The page's class filter and the query's classes must both hold.
        classes = [name for name in classes if name in criteria.labels]
    if classes is not None:
        criteria = replace(criteria, labels=tuple(classes))
    detections = criteria.best_detections()
    for source in sources:
        names = by_source.get(source.kind)
        if names and source.kind != "class":
            detections = source.filter(detections, names)
    return detections


def _has(part: str, colour: str) -> Q:
    (main, _), (second, _) = PAIRS[part]
    return Q(**{f"colours__{main}": colour}) | Q(**{f"colours__{second}": colour})


def _share(part: str, colour: str) -> Case:
    (main, main_share), (second, second_share) = PAIRS[part]
    return Case(
        When(**{f"colours__{main}": colour}, then=F(f"colours__{main_share}")),
        When(**{f"colours__{second}": colour}, then=F(f"colours__{second_share}")),
        default=Value(0.0),
        output_field=FloatField(),
    )
