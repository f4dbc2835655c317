"""The context frame of a crop and the path of a track (both optional, empty on existing rows),
and the indexes of the search grid, which lists tracks newest first (cloud.search.criteria).
"""

import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("detections", "0004_embed_attempts"),
        ("fleet", "0004_device_site_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="detection",
            name="context_key",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Object-store key of the downscaled whole frame the crop was cut from; empty when the edge sent none.",
                max_length=512,
            ),
        ),
        migrations.AddField(
            model_name="track",
            name="path",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Where the object went: [unix seconds, x, y] per point, oldest first, x and y the box centre in normalised frame coordinates; from the latest track summary.",
            ),
        ),
        migrations.AddIndex(
            model_name="track",
            index=models.Index(fields=["-last_seen", "-id"], name="tracks_last_seen"),
        ),
        migrations.AddIndex(
            model_name="track",
            index=models.Index(fields=["camera", "-last_seen"], name="tracks_camera_last_seen"),
        ),
        migrations.AddIndex(
            model_name="track",
            index=models.Index(fields=["label", "-last_seen"], name="tracks_label_last_seen"),
        ),
        migrations.AddIndex(
            model_name="track",
            index=models.Index(
                django.db.models.expressions.CombinedExpression(
                    models.F("last_seen"), "-", models.F("first_seen")
                ),
                name="tracks_duration",
            ),
        ),
    ]
