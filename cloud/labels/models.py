"""User labels ("delivery van", "our staff") and what says which crops have them.

A `Label` is named once and shared by every user; what a user may see of it is what their
cameras show (`cloud.access.scope`). Three records say which crops have a label:

- `Mark`: a user's word on one crop, positive or negative, one current row per (label, crop).
  Every change is also appended to `MarkEvent` (who, when, before, after), grouped by the user
  action it belongs to (`batch`: one click or one bulk selection), so an action is undone by
  applying its events backwards and the history is never rewritten.
- `Score`: the system's guess for a crop the user has not marked, from one `Score.Source`
  (similarity to the marks, or a classifier learned from them), a confidence in [0, 1]. A score
  of a marked crop is kept (it measures the guesser) but never shown as a suggestion.

See docs/architecture.md, "Labels".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from cloud.detections.models import Detection, Track

DEFAULT_POSITIVE_THRESHOLD = 0.90
"""Similarity to a positive from which an unmarked crop is suggested (Pinecone's video search
example spreads positives above 0.90).

Measured for the crop vectors of `cloud.embeddings.crop_vector` with
`uv run python -m tests.bench.bench_spreading` (every person track of vtest.avi in turn a label
with its first 3 crops as positives, the whole clip as candidates, near-copies within 2 s of a
positive left out): below 0.90 the wrong sightings suggested per label double with each 0.01
(1.6 at 0.90, 2.4 at 0.89, 4.1 at 0.88, 8.1 at 0.86) at a precision of at most 0.14; above it
fewer than one sighting per label is suggested (0.96 at 0.91, 0.51 at 0.92) for no steady gain
in precision (0.15 at 0.90, 0.20 at 0.91, 0.17 at 0.92). So 0.90 keeps a couple of sightings to
judge per label, each wrong one a reject that also stops its near-copies. Similarity alone is
not precise on this embedding: suggestions are for review; the learned classifier is what
gets precise. Recalibrate when the embedding changes.
"""

DEFAULT_NEGATIVE_THRESHOLD = 0.99
"""Similarity to a negative from which an unmarked crop counts as that negative's near-duplicate
and is never suggested (0.99 in the same example)."""


class Label(models.Model):
    """A name users give to objects; unique whatever its case."""

    name = models.CharField(max_length=64, help_text="What the label is called, as shown.")
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    positive_threshold = models.FloatField(
        default=DEFAULT_POSITIVE_THRESHOLD,
        help_text="Cosine similarity to a positive from which a crop is suggested.",
    )
    negative_threshold = models.FloatField(
        default=DEFAULT_NEGATIVE_THRESHOLD,
        help_text="Cosine similarity to a negative from which a crop is never suggested.",
    )

    class Meta:
        constraints = (
            models.UniqueConstraint(Lower("name"), name="labels_name_unique_any_case"),
            models.CheckConstraint(
                condition=models.Q(positive_threshold__gte=-1.0, positive_threshold__lte=1.0)
                & models.Q(negative_threshold__gte=-1.0, negative_threshold__lte=1.0),
                name="labels_thresholds_are_cosines",
            ),
        )
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Value(models.TextChoices):
    """A user's word on a crop for one label."""

    POSITIVE = "positive", "Positive"
    NEGATIVE = "negative", "Negative"


class Mark(models.Model):
    """The current user mark of one crop for one label (`MarkEvent` keeps how it came to be)."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="marks")
    detection = models.ForeignKey(Detection, on_delete=models.CASCADE, related_name="marks")
    value = models.CharField(max_length=8, choices=Value.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("label", "detection"), name="marks_one_per_crop"),
        )
        # A label's positives (or negatives), newest first: what spreading and training read.
        indexes = (models.Index(fields=("label", "value", "-at"), name="marks_label_value"),)

    def __str__(self) -> str:
        return f"{self.label_id}/{self.detection_id}: {self.value}"


class MarkEvent(models.Model):
    """One change of one crop's mark, append-only; `before`/`after` empty: no mark."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="events")
    detection = models.ForeignKey(Detection, on_delete=models.CASCADE, related_name="+")
    batch = models.UUIDField(help_text="The user action (one click, one bulk selection).")
    undoes = models.UUIDField(
        null=True, blank=True, help_text="The batch this one reverses, when it is an undo."
    )
    before = models.CharField(max_length=8, choices=Value.choices, blank=True)
    after = models.CharField(max_length=8, choices=Value.choices, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField()

    class Meta:
        indexes = (
            models.Index(fields=("label", "-at"), name="mark_events_label_at"),
            models.Index(fields=("batch",), name="mark_events_batch"),
        )

    def __str__(self) -> str:
        return f"{self.batch}: {self.detection_id} {self.before or '-'} -> {self.after or '-'}"


class Score(models.Model):
    """The system's confidence that a crop has a label, from one source; one row per source."""

    class Source(models.TextChoices):
        SIMILARITY = "similarity", "Similar to the marks"
        CLASSIFIER = "classifier", "Learned classifier"

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="scores")
    detection = models.ForeignKey(Detection, on_delete=models.CASCADE, related_name="+")
    track = models.ForeignKey(
        Track,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="The detection's track, copied: search's label filter reads a label's "
        "tracks from the scores' index alone, not through a million detections.",
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    confidence = models.FloatField(help_text="In [0, 1]; how sure the source is.")
    version = models.PositiveIntegerField(
        default=0,
        help_text="What scored it (the classifier's version; 0 for similarity), so a stale "
        "score is recognised.",
    )
    updated_at = models.DateTimeField()

    class Meta:
        constraints = (
            models.UniqueConstraint(
                fields=("label", "detection", "source"), name="scores_one_per_source"
            ),
            models.CheckConstraint(
                condition=models.Q(confidence__gte=0.0, confidence__lte=1.0),
                name="scores_confidence_in_unit_range",
            ),
        )
        indexes = (
            # A label's suggestions, most confident first.
            models.Index(fields=("label", "source", "-confidence"), name="scores_best"),
            # The tracks a learned label applies to (cloud.labels.matching).
            models.Index(
                fields=("label", "source", "confidence", "track"), name="scores_label_tracks"
            ),
        )

    def __str__(self) -> str:
        return f"{self.label_id}/{self.detection_id} {self.source}: {self.confidence:.2f}"
