"""Counts embed runs per detection and records why one will never be embedded.

Existing rows start at zero runs and no error; the partial index serves the sweeper that
re-enqueues detections still waiting for a vector (cloud.embeddings.sweep).
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("detections", "0003_drop_track_edge_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="detection",
            name="embed_attempts",
            field=models.PositiveIntegerField(
                default=0, help_text="Embed runs started for this crop (cloud.embeddings.services)."
            ),
        ),
        migrations.AddField(
            model_name="detection",
            name="embed_error",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Why the crop will never be embedded (unreadable, or too many failed "
                "runs); empty while it still may be.",
                max_length=300,
            ),
        ),
        migrations.AddIndex(
            model_name="detection",
            index=models.Index(
                condition=models.Q(("embed_error", ""), ("embedded_at__isnull", True)),
                fields=["received_at"],
                name="detections_embed_pending",
            ),
        ),
    ]
