"""Drops `Track.edge_id` (now the track's key, see 0002) and checks stored boxes are normalised."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("detections", "0002_track_id_and_normalised_box"),
    ]

    operations = [
        migrations.RemoveField(model_name="track", name="edge_id"),
        migrations.AddConstraint(
            model_name="detection",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("x_max__lte", 1),
                    ("x_min__gte", 0),
                    ("x_min__lte", models.F("x_max")),
                    ("y_max__lte", 1),
                    ("y_min__gte", 0),
                    ("y_min__lte", models.F("y_max")),
                ),
                name="detections_box_normalised",
            ),
        ),
    ]
