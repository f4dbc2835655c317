"""The face the edge found in a crop (optional: empty and null on existing rows)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("detections", "0005_context_frame_and_path"),
    ]

    operations = [
        migrations.AddField(
            model_name="detection",
            name="edge_face",
            field=models.JSONField(
                blank=True,
                help_text="Where that face is: `cloud.detections.services.EdgeFace.geometry`; null when the edge sent none.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="detection",
            name="face_key",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Object-store key of the face the edge found in the crop (a JPEG at the frame's resolution); empty when it sent none.",
                max_length=512,
            ),
        ),
    ]
