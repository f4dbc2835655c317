"""The face found in a person crop: one row per crop that has one.

A person crop shows one person, so it holds at most one face of interest: the one nearest the
middle of its width (a face towards a side is someone else's, found in that person's own crop).
The row is keyed by the detection, as is the face vector in the `Face` vector collection, so
analysing a crop again overwrites both instead of adding a second face.
"""

from __future__ import annotations

from django.db import models

from cloud.detections.models import Detection, box_and_score_constraints


class Face(models.Model):
    """The face in one person crop, its box in fractions of the crop (origin top-left)."""

    detection = models.OneToOneField(
        Detection, on_delete=models.CASCADE, primary_key=True, related_name="face"
    )
    x_min = models.FloatField(help_text="Left edge, as a fraction of the crop width.")
    y_min = models.FloatField(help_text="Top edge, as a fraction of the crop height.")
    x_max = models.FloatField(help_text="Right edge, as a fraction of the crop width.")
    y_max = models.FloatField(help_text="Bottom edge, as a fraction of the crop height.")
    score = models.FloatField(help_text="Face detector (YuNet) confidence in [0, 1].")
    found_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = box_and_score_constraints("faces")

    def __str__(self) -> str:
        return f"face {self.score:.2f} in {self.detection_id}"
