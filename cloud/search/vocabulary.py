"""What text search can understand: object classes, user labels, body parts and colour names,
and the parser that maps free text onto them.

Public surface: `Term`, `TermSource`, `TERM_SOURCES`, `ColourTerm`, `Interpretation`,
`TextQueryError`, `NotUnderstood`, `query_words`, `MAX_QUERY_CHARS`, `Vocabulary` and
`vocabulary()`.

How a query is read: it is split into words; stop words are dropped; colour words are looked up
in a table (the sentence model is no use for them: measured, "crimson" is nearer "black" than
"red"); every other word and every pair of neighbouring words is embedded with the offline
sentence model (`cloud.search.sentences`) and matched by cosine to the phrasings of each class
and body part. A match counts above a threshold, so "pedestrian" finds person (0.65) and
"automobile" car (0.86), while "the" (0.47 to car) or "van" (0.42 to car, bus and truck alike)
do not; what is not understood is reported, never guessed. Each colour belongs to the body part
named next to it ("red jacket", "jeans that are blue"), else to the whole object; naming a
body part implies a person.

Where classes come from: `TERM_SOURCES` lists ``module:factory`` names of `TermSource`s. The
detector's classes are the first; user labels (`cloud.labels.terms`) are the second: a source
names its terms and says how to filter detections by them, with nothing else here to change.
"""

from __future__ import annotations

import itertools
import pkgutil
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt
from django.db.models import QuerySet

from cloud.attributes.colours import COLOURS
from cloud.attributes.colours import Part as BodyPart
from cloud.detections.models import Detection
from models.manifest import manifest_path, read_runtime_manifest

MAX_QUERY_CHARS: Final = 200
"""Longest query read; a longer one is refused with a message, not cut."""
MAX_QUERY_WORDS: Final = 16
"""Most words (after stop words) read; each costs two model inputs."""

DETECTOR_MODEL: Final = "nanodet-g"
"""Manifest name of the detector whose classes text search knows."""

# Cosine with a phrasing above which a word means that class or part (all-MiniLM-L6-v2,
# measured on single words: synonyms score 0.6-0.9, unrelated nouns 0.3-0.48).
CLASS_THRESHOLD: Final = 0.5
PART_THRESHOLD: Final = 0.55
# Classes this close to the best one are also meant ("automobile" is car, not truck: 0.86 vs
# 0.67); closer than this the text cannot tell them apart, so both are searched.
TIE_MARGIN: Final = 0.03

# Extra phrasings of classes: the common words for the class that a class name alone is too
# far from (measured: "man" 0.41 and "kid" 0.40 to "person"). The model generalises from them.
CLASS_PHRASINGS: Final[dict[str, tuple[str, ...]]] = {
    "person": ("people", "man", "woman", "child"),
    "car": ("vehicle", "van"),
    "tv": ("television",),
}

PART_PHRASINGS: Final[dict[BodyPart, tuple[str, ...]]] = {
    BodyPart.UPPER: ("upper body", "jacket", "shirt", "coat", "sweater", "top"),
    BodyPart.LOWER: ("lower body", "trousers", "pants", "jeans", "skirt", "shorts", "legs"),
}

COLOUR_WORDS: Final[dict[str, str]] = {
    **{name: name for name in COLOURS},
    "gray": "grey",
    "silver": "grey",
    "navy": "blue",
    "crimson": "red",
    "scarlet": "red",
    "maroon": "red",
    "beige": "brown",
    "tan": "brown",
    "khaki": "brown",
    "violet": "purple",
    "lilac": "purple",
    "magenta": "purple",
    "gold": "yellow",
    "golden": "yellow",
    "turquoise": "blue",
}
"""Colour words and the named colour (`cloud.attributes.colours.COLOURS`) each means."""

# Words that carry no class, part or colour: dropped before matching (each pair of query words
# is embedded too, and "the man" is farther from "person" than "man" is).
_STOP_TEXT: Final = """a an the in on at of with and or wearing wears wear dressed is are was that
who which some any all find show me looking for someone something"""
STOP_WORDS: Final = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
# Control characters and the like: a query holding them is refused rather than cleaned.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A colour joins a part named within this many words of it.
_COLOUR_REACH: Final = 3
# Match scores are compared to this many decimals: a phrase and the same phrase embedded in
# another batch differ in the last bits.
_SCORE_DIGITS: Final = 4


class TextQueryError(ValueError):
    """A query that cannot be searched; the message is for the person who typed it."""


class NotUnderstood(TextQueryError):
    """A well-formed query in which no word matches the vocabulary (an image-text model, when
    configured, may still search it)."""


@dataclass(frozen=True)
class Term:
    """Something detections can be filtered by, with the phrasings the parser matches."""

    name: str
    """Shown to the user and passed to the source's filter (``person``)."""
    phrasings: tuple[str, ...]
    source: str
    """Which `TermSource` it comes from (its `kind`)."""


class TermSource(Protocol):
    """A kind of searchable name: detector classes, user labels."""

    kind: str
    """Short name, unique among the sources (``class``, ``label``)."""

    def terms(self) -> Iterable[Term]:
        """The names it knows, each with its phrasings; read each time a vocabulary is built."""
        ...

    def filter(self, detections: QuerySet[Detection], names: Sequence[str]) -> QuerySet[Detection]:
        """`detections` restricted to those that have any of these names."""
        ...


class DetectorClasses:
    """The detector's class names (COCO), filtered by `Detection.label`."""

    kind = "class"

    def terms(self) -> Iterable[Term]:
        """One term per class of the detector's manifest."""
        labels = read_runtime_manifest(manifest_path(DETECTOR_MODEL)).labels
        names = () if labels is None else labels.names
        return [Term(name, (name, *CLASS_PHRASINGS.get(name, ())), self.kind) for name in names]

    def filter(self, detections: QuerySet[Detection], names: Sequence[str]) -> QuerySet[Detection]:
        """Detections whose detector class is one of `names`."""
        return detections.filter(label__in=names)


TERM_SOURCES: Final[Sequence[str]] = (
    "cloud.search.vocabulary:DetectorClasses",
    "cloud.labels.terms:UserLabels",
)
"""``module:factory`` of every `TermSource`, in order (an earlier source wins a tie)."""


@dataclass(frozen=True)
class ColourTerm:
    """A colour asked for, and of which part."""

    part: BodyPart
    colour: str

    def describe(self) -> str:
        """``upper body red``; a whole-object colour is just its name."""
        return self.colour if self.part is BodyPart.WHOLE else f"{self.part} body {self.colour}"


@dataclass(frozen=True)
class Interpretation:
    """How a query was understood: what the page shows as "understood as"."""

    terms: tuple[Term, ...] = ()
    """Classes or labels asked for (any of them); empty: any object."""
    colours: tuple[ColourTerm, ...] = ()
    """Colours asked for (all of them)."""
    ignored: tuple[str, ...] = ()
    """Words that matched nothing, in query order."""

    def describe(self) -> str:
        """``person, upper body red``."""
        what = " or ".join(term.name for term in self.terms) or "any object"
        return ", ".join([what, *(colour.describe() for colour in self.colours)])


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    score: float
    term: Term | None = None
    part: BodyPart | None = None
    also: tuple[Term, ...] = field(default=())


class Vocabulary:
    """The phrasings of every term and part, embedded once; `parse` reads queries."""

    def __init__(self, terms: Sequence[Term], encode: _Encode) -> None:
        """Embed the phrasings of `terms` and of the body parts with `encode`."""
        self._encode = encode
        self._terms = tuple(terms)
        self._phrasings: list[tuple[Term | BodyPart, str]] = [
            (term, phrasing) for term in self._terms for phrasing in term.phrasings
        ]
        self._phrasings += [
            (part, phrasing) for part, phrasings in PART_PHRASINGS.items() for phrasing in phrasings
        ]
        self._vectors = encode([phrasing for _, phrasing in self._phrasings])

    @property
    def terms(self) -> tuple[Term, ...]:
        """Every class or label the vocabulary knows."""
        return self._terms

    def parse(self, query: str) -> Interpretation:
        """Understand `query`; raise `TextQueryError` when it is empty, too long, holds control
        characters or matches nothing known."""
        words = query_words(query)
        kept = [(position, word) for position, word in enumerate(words) if word not in STOP_WORDS]
        if len(kept) > MAX_QUERY_WORDS:
            raise TextQueryError(f"Use at most {MAX_QUERY_WORDS} words (besides a, the, in ...).")
        colours = {position: COLOUR_WORDS[word] for position, word in kept if word in COLOUR_WORDS}
        others = [(position, word) for position, word in kept if position not in colours]
        matches = self._match(others)
        understood = {p for m in matches for p in range(m.start, m.end + 1)} | colours.keys()
        terms: list[Term] = []
        for match in sorted(matches, key=lambda m: m.start):
            for term in (match.term, *match.also):
                if term is not None and term not in terms:
                    terms.append(term)
        parts = sorted((m.start, m.end, m.part) for m in matches if m.part is not None)
        colour_terms: list[ColourTerm] = []
        for position, colour in sorted(colours.items()):
            asked = ColourTerm(_part_of(position, parts, colours.keys()), colour)
            if asked not in colour_terms:
                colour_terms.append(asked)
        if parts and not terms:
            terms = [term for term in self._terms if term.name == "person"]
        ignored = tuple(word for position, word in kept if position not in understood)
        if not terms and not colour_terms:
            raise NotUnderstood(
                f"Nothing in {query.strip()!r} matches a class, label or colour that the "
                "system knows; try words like person, car, red jacket or blue jeans."
            )
        return Interpretation(tuple(terms), tuple(colour_terms), ignored)

    def _match(self, words: Sequence[tuple[int, str]]) -> list[_Match]:
        """Best non-overlapping matches of single words and neighbouring pairs."""
        spans = [(p, p, w) for p, w in words]
        spans += [
            (p1, p2, f"{w1} {w2}")
            for (p1, w1), (p2, w2) in itertools.pairwise(words)
            if p2 == p1 + 1
        ]
        if not spans:
            return []
        similarity = self._encode([text for _, _, text in spans]) @ self._vectors.T
        candidates: list[_Match] = []
        for (start, end, _), row in zip(spans, similarity, strict=True):
            candidate = self._best(start, end, row)
            if candidate is not None:
                candidates.append(candidate)
        chosen: list[_Match] = []
        taken: set[int] = set()
        # Equal scores (to _SCORE_DIGITS, below the model's float noise): the longer span wins,
        # so a label "delivery van" named in full beats the class phrasing "van" inside it.
        ranked = sorted(
            candidates,
            key=lambda m: (-round(m.score, _SCORE_DIGITS), m.start - m.end, m.start),
        )
        for candidate in ranked:
            span = set(range(candidate.start, candidate.end + 1))
            if not span & taken:
                chosen.append(candidate)
                taken |= span
        return chosen

    def _best(self, start: int, end: int, row: npt.NDArray[np.float32]) -> _Match | None:
        best: dict[Term | BodyPart, float] = {}
        for (target, _), score in zip(self._phrasings, row.tolist(), strict=True):
            best[target] = max(best.get(target, -1.0), score)
        target, score = max(best.items(), key=lambda item: item[1])
        if isinstance(target, BodyPart):
            return _Match(start, end, score, part=target) if score >= PART_THRESHOLD else None
        if score < CLASS_THRESHOLD:
            return None
        ties = tuple(
            other
            for other, other_score in best.items()
            if isinstance(other, Term) and other != target and other_score >= score - TIE_MARGIN
        )
        return _Match(start, end, score, term=target, also=ties)


class _Encode(Protocol):
    def __call__(self, texts: Sequence[str], /) -> npt.NDArray[np.float32]: ...


def query_words(query: str) -> list[str]:
    """The lower-case words of `query`; raise `TextQueryError` when it is longer than
    `MAX_QUERY_CHARS`, holds control characters or has no word at all."""
    if len(query) > MAX_QUERY_CHARS:
        raise TextQueryError(f"The query is too long: use at most {MAX_QUERY_CHARS} characters.")
    if _CONTROL.search(query):
        raise TextQueryError("The query holds control characters; type plain text.")
    words = _WORD.findall(query.lower())
    if not words:
        raise TextQueryError("Type what to look for, for example: man in a red jacket.")
    return words


def _part_of(
    position: int, parts: Sequence[tuple[int, int, BodyPart]], colours: Iterable[int]
) -> BodyPart:
    """The part a colour word at `position` describes: the nearest part named after it, else
    before it, within reach and with no other colour word in between."""
    others = set(colours) - {position}
    after = [
        (start, part)
        for start, _, part in parts
        if 0 < start - position <= _COLOUR_REACH and not others & set(range(position, start))
    ]
    if after:
        return min(after)[1]
    before = [
        (position - end, part)
        for _, end, part in parts
        if 0 < position - end <= _COLOUR_REACH and not others & set(range(end, position))
    ]
    return min(before)[1] if before else BodyPart.WHOLE


def term_sources() -> list[TermSource]:
    """Every configured `TermSource`, built from `TERM_SOURCES`."""
    return [pkgutil.resolve_name(name)() for name in TERM_SOURCES]


_lock = threading.Lock()
_cached: tuple[tuple[Term, ...], Vocabulary] | None = None


def vocabulary(encode: _Encode | None = None) -> Vocabulary:
    """This process's vocabulary over the current terms, embedded again only when they change
    (a label added). `encode` defaults to the process's sentence encoder."""
    global _cached
    terms = tuple(term for source in term_sources() for term in source.terms())
    with _lock:
        if _cached is None or _cached[0] != terms:
            if encode is None:
                from cloud.search.sentences import sentence_encoder

                encode = sentence_encoder().encode
            _cached = (terms, Vocabulary(terms, encode))
        return _cached[1]
