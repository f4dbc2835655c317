"""What the learned side of labels stores: classifiers, each label's state, backfills.

- `Classifier`: one trained version of a label's classifier, kept as plain numbers (weights
  over the crop vector, bias, decision threshold) with what it was trained on (the vector
  collection and dimension: vectors of another embedding are never scored with it) and how it
  did on held-out marks. Versions count up per label and are never rewritten.
- `LearnedLabel`: per label, the classifier in use (none until the marks are enough), whether
  a training is queued, and what the last training said.
- `Backfill`: the scoring of every existing crop by one classifier version, with its progress.

Scores themselves are `cloud.labels.models.Score` rows of source ``classifier`` whose
`version` is the classifier's: a row of an older version than the label's classifier is stale.
See docs/architecture.md, "Labels".
"""

from __future__ import annotations

from django.db import models

from cloud.labels.models import Label


class Classifier(models.Model):
    """One trained version of a label's classifier (`cloud.learned.training`)."""

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="classifiers")
    version = models.PositiveIntegerField(help_text="1, 2, ... per label, one per training.")
    collection = models.CharField(
        max_length=127, help_text="The vector collection (embedding) it was trained on."
    )
    dimension = models.PositiveIntegerField(help_text="Length of the crop vectors it scores.")
    weights = models.JSONField(help_text="One weight per vector value (plain numbers).")
    bias = models.FloatField()
    threshold = models.FloatField(
        help_text="Probability from which a crop has the label (chosen on held-out marks)."
    )
    positives = models.PositiveIntegerField(help_text="Positive marks it was trained on.")
    negatives = models.PositiveIntegerField(help_text="Negative marks it was trained on.")
    folds = models.PositiveSmallIntegerField(help_text="Folds of tracks held out in turn.")
    precision = models.FloatField(help_text="On held-out tracks' marks, at the threshold.")
    recall = models.FloatField(help_text="On held-out tracks' marks, at the threshold.")
    marks_digest = models.CharField(
        max_length=64, help_text="SHA-256 of the marks and collection it was trained on."
    )
    trained_at = models.DateTimeField()
    training_s = models.FloatField(help_text="Seconds the training took.")

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=("label", "version"), name="classifiers_one_version"),
        )
        ordering = ("label", "-version")

    def __str__(self) -> str:
        return f"{self.label_id} v{self.version}"


class LearnedLabel(models.Model):
    """A label's learned state: its classifier in use and its training queue."""

    label = models.OneToOneField(
        Label, on_delete=models.CASCADE, primary_key=True, related_name="learned"
    )
    classifier = models.ForeignKey(
        Classifier,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The version that scores crops; none until the marks are enough.",
    )
    queued_at = models.DateTimeField(
        null=True, blank=True, help_text="When a training was queued that has not started."
    )
    status = models.CharField(
        max_length=300, blank=True, help_text="What the last training did, in words."
    )
    status_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.label_id}: {self.status or 'never trained'}"


class Backfill(models.Model):
    """The scoring of every existing crop by one classifier version."""

    classifier = models.OneToOneField(
        Classifier, on_delete=models.CASCADE, primary_key=True, related_name="backfill"
    )
    total = models.PositiveIntegerField(default=0, help_text="Embedded crops to score.")
    done = models.PositiveIntegerField(default=0, help_text="Crops scored so far.")
    until = models.CharField(
        max_length=36, blank=True, help_text="The last crop id it scores (newest at its start)."
    )
    after = models.CharField(
        max_length=36, blank=True, help_text="Cursor: the crops up to this id are scored."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, help_text="Why it stopped, if it did.")

    def __str__(self) -> str:
        return f"{self.classifier}: {self.done}/{self.total}"
