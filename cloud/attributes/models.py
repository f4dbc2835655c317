"""The named colours of each analysed crop, one row per detection.

A table of its own beside `Detection` (keyed by it, deleted with it): the embed workers write
it after ingest has stored the row, and search joins it only when a query names a colour. Each
part keeps its two most common colours with their shares, so that a red-and-navy jacket is
found for "red" as well as for "blue"; every (colour, share) pair has an index that starts with
the colour and runs by share, best first, so "persons with a red upper body, reddest first" is
answered from an index at a million rows.
"""

from __future__ import annotations

from django.db import models

from cloud.attributes.colours import COLOURS
from cloud.detections.models import Detection

COLOUR_CHOICES = [(name, name) for name in COLOURS]

# (colour field, share field) of each stored pair, by part and rank.
PAIRS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "whole": (("colour", "colour_share"), ("colour2", "colour2_share")),
    "upper": (("upper", "upper_share"), ("upper2", "upper2_share")),
    "lower": (("lower", "lower_share"), ("lower2", "lower2_share")),
}


def _colour(help_text: str) -> models.CharField[str, str]:
    return models.CharField(
        max_length=8, choices=COLOUR_CHOICES, blank=True, default="", help_text=help_text
    )


def _share(help_text: str) -> models.FloatField[float, float]:
    return models.FloatField(default=0.0, help_text=help_text)


class DetectionColours(models.Model):
    """Named colours of a detection's crop (`cloud.attributes.colours`); empty: not named."""

    detection = models.OneToOneField(
        Detection, on_delete=models.CASCADE, primary_key=True, related_name="colours"
    )
    colour = _colour("Most common colour of the object.")
    colour_share = _share("Share of the object's pixels that have `colour`, in [0, 1].")
    colour2 = _colour("Second most common colour of the object.")
    colour2_share = _share("Share of the object's pixels that have `colour2`.")
    upper = _colour("Persons: most common colour of the upper body.")
    upper_share = _share("Share of the upper body's pixels that have `upper`.")
    upper2 = _colour("Persons: second most common colour of the upper body.")
    upper2_share = _share("Share of the upper body's pixels that have `upper2`.")
    lower = _colour("Persons: most common colour of the lower body.")
    lower_share = _share("Share of the lower body's pixels that have `lower`.")
    lower2 = _colour("Persons: second most common colour of the lower body.")
    lower2_share = _share("Share of the lower body's pixels that have `lower2`.")

    class Meta:
        indexes = tuple(
            models.Index(fields=[colour, f"-{share}"], name=f"colours_{colour}")
            for pair in PAIRS.values()
            for colour, share in pair
        )

    def __str__(self) -> str:
        return f"{self.detection_id}: {self.colour} / {self.upper} / {self.lower}"
