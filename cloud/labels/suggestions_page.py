"""A label's suggestions as its page lists them, and the user's verdict on them.

A suggestion is a sighting (a track) with crops the label has no mark on but a score for,
from either source (`Score.Source`: similarity to the marks, the learned classifier), within
the cameras the user may see. The page shows each track once, by its most confident crop,
most confident first; accepting or rejecting a track marks all its suggested crops (they are
one object) positive or negative, through the mark service.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from django.contrib.auth.models import User
from django.db.models import Exists, Max, OuterRef, QuerySet

from cloud.labels.marks import apply_marks
from cloud.labels.models import Label, Mark, Score, Value
from cloud.labels.suggestions import forget_near_duplicates
from cloud.lib.objectstore import ObjectStore
from cloud.lib.vectorstore import VectorStore
from cloud.search.results import CropCard, ResultPage, crop_cards

SOURCES: Final = (Score.Source.SIMILARITY, Score.Source.CLASSIFIER)


@dataclass(frozen=True)
class Suggestion:
    """One suggested sighting, shown by its most confident crop."""

    card: CropCard
    confidence: float
    """The best confidence of any source for that crop, in [0, 1]."""
    similarity: float | None
    """That crop's similarity score, if it has one."""
    classifier: float | None
    """That crop's classifier score, if it has one."""
    crops: int
    """How many crops of the track are suggested (all are marked by a verdict)."""


@dataclass(frozen=True)
class SuggestionPage(ResultPage):
    """One page of suggested tracks (`tracks`, in order) with what each one's card shows."""

    suggestions: list[Suggestion]


def suggested_scores(label: Label, visible_camera_ids: Collection[int] | None) -> QuerySet[Score]:
    """The label's scores of crops it has no mark on, on the cameras given (None: every one)."""
    marked = Mark.objects.filter(label_id=label.pk, detection_id=OuterRef("detection_id"))
    scores = Score.objects.filter(label=label, source__in=SOURCES, confidence__gt=0).exclude(
        Exists(marked)
    )
    if visible_camera_ids is not None:
        scores = scores.filter(detection__camera_id__in=visible_camera_ids)
    return scores


def suggestion_page(
    label: Label,
    visible_camera_ids: Collection[int] | None,
    *,
    number: int,
    size: int,
    objects: ObjectStore,
) -> SuggestionPage:
    """Page `number` (from 1) of `size` suggested tracks, most confident first."""
    scores = suggested_scores(label, visible_camera_ids)
    start = (number - 1) * size
    ranked = [
        row["track_id"]
        for row in scores.values("track_id")
        .annotate(best=Max("confidence"))
        .order_by("-best", "track_id")[start : start + size + 1]
    ]
    tracks = ranked[:size]
    by_crop: dict[str, dict[str, float]] = defaultdict(dict)
    crops_of_track: dict[str, set[str]] = defaultdict(set)
    rows = {}
    for score in scores.filter(track_id__in=tracks).select_related("detection__track__camera"):
        by_crop[score.detection_id][score.source] = score.confidence
        crops_of_track[score.detection.track_id].add(score.detection_id)
        rows[score.detection_id] = score.detection
    suggestions = []
    for track_id in tracks:
        # The most confident crop; of equals, the first id, so a page is stable.
        shown = min(crops_of_track[track_id], key=lambda crop: (-max(by_crop[crop].values()), crop))
        detection = rows[shown]
        (card,) = crop_cards(detection.track, [detection], objects)
        confidences = by_crop[shown]
        suggestions.append(
            Suggestion(
                card=card,
                confidence=max(confidences.values()),
                similarity=confidences.get(Score.Source.SIMILARITY),
                classifier=confidences.get(Score.Source.CLASSIFIER),
                crops=len(crops_of_track[track_id]),
            )
        )
    return SuggestionPage(
        number,
        [suggestion.card.track for suggestion in suggestions],
        has_next=len(ranked) > size,
        suggestions=suggestions,
    )


def decide(
    label: Label,
    track_ids: Collection[str],
    value: Value,
    user: User,
    *,
    visible_camera_ids: Collection[int] | None,
    vectors: VectorStore,
) -> int:
    """Mark every suggested crop of these tracks `value`, as one batch; return how many crops.

    Tracks the user may not see, or without a suggestion any longer (marked meanwhile), add
    nothing. A rejection also forgets the similarity suggestions of the rejected crops'
    near-duplicates at once (`forget_near_duplicates`), so the page the user returns to does
    not offer them again while the refresh that the marks queued has yet to run.
    """
    crops = sorted(
        set(
            suggested_scores(label, visible_camera_ids)
            .filter(track_id__in=track_ids)
            .values_list("detection_id", flat=True)
        )
    )
    if not crops:
        return 0
    apply_marks(label, dict.fromkeys(crops, value), user)
    if value == Value.NEGATIVE:
        forget_near_duplicates(label, crops, vectors)
    return len(crops)
