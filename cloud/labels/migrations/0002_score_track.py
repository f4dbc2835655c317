"""Scores carry their crop's track (see `Score.track`): added nullable, filled from the
detections, then required."""

from __future__ import annotations

from typing import Any

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_tracks(apps: Any, schema_editor: Any) -> None:
    score = apps.get_model("labels", "Score")
    detection = apps.get_model("detections", "Detection")
    track = detection.objects.filter(pk=OuterRef("detection_id")).values("track_id")[:1]
    score.objects.update(track_id=Subquery(track))


class Migration(migrations.Migration):
    dependencies = [
        ("detections", "0005_context_frame_and_path"),
        ("labels", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="score",
            name="track",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="detections.track",
            ),
        ),
        migrations.RunPython(fill_tracks, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="score",
            name="track",
            field=models.ForeignKey(
                help_text="The detection's track, copied: search's label filter reads a "
                "label's tracks from the scores' index alone, not through a million detections.",
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="detections.track",
            ),
        ),
        migrations.AddIndex(
            model_name="score",
            index=models.Index(
                fields=["label", "source", "confidence", "track"], name="scores_label_tracks"
            ),
        ),
    ]
