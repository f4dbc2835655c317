"""The named colours of analysed crops (cloud.attributes.models.DetectionColours), one row per
detection, with an index per (colour, share) pair for text search.

Existing detections get their row when they are embedded again (`python -m cloud reembed`).
"""

import django.db.models.deletion
from django.db import migrations, models

# cloud.attributes.colours.COLOURS as they were when this migration was made.
COLOURS = [
    (name, name)
    for name in (
        "black",
        "grey",
        "white",
        "red",
        "orange",
        "yellow",
        "green",
        "blue",
        "purple",
        "pink",
        "brown",
    )
]


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("detections", "0004_embed_attempts"),
    ]

    operations = [
        migrations.CreateModel(
            name="DetectionColours",
            fields=[
                (
                    "detection",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="colours",
                        serialize=False,
                        to="detections.detection",
                    ),
                ),
                (
                    "colour",
                    models.CharField(
                        blank=True,
                        choices=COLOURS,
                        default="",
                        help_text="Most common colour of the object.",
                        max_length=8,
                    ),
                ),
                (
                    "colour_share",
                    models.FloatField(
                        default=0.0,
                        help_text="Share of the object's pixels that have `colour`, in [0, 1].",
                    ),
                ),
                (
                    "colour2",
                    models.CharField(
                        blank=True,
                        choices=COLOURS,
                        default="",
                        help_text="Second most common colour of the object.",
                        max_length=8,
                    ),
                ),
                (
                    "colour2_share",
                    models.FloatField(
                        default=0.0, help_text="Share of the object's pixels that have `colour2`."
                    ),
                ),
                (
                    "upper",
                    models.CharField(
                        blank=True,
                        choices=COLOURS,
                        default="",
                        help_text="Persons: most common colour of the upper body.",
                        max_length=8,
                    ),
                ),
                (
                    "upper_share",
                    models.FloatField(
                        default=0.0, help_text="Share of the upper body's pixels that have `upper`."
                    ),
                ),
                (
                    "upper2",
                    models.CharField(
                        blank=True,
                        choices=COLOURS,
                        default="",
                        help_text="Persons: second most common colour of the upper body.",
                        max_length=8,
                    ),
                ),
                (
                    "upper2_share",
                    models.FloatField(
                        default=0.0,
                        help_text="Share of the upper body's pixels that have `upper2`.",
                    ),
                ),
                (
                    "lower",
                    models.CharField(
                        blank=True,
                        choices=COLOURS,
                        default="",
                        help_text="Persons: most common colour of the lower body.",
                        max_length=8,
                    ),
                ),
                (
                    "lower_share",
                    models.FloatField(
                        default=0.0, help_text="Share of the lower body's pixels that have `lower`."
                    ),
                ),
                (
                    "lower2",
                    models.CharField(
                        blank=True,
                        choices=COLOURS,
                        default="",
                        help_text="Persons: second most common colour of the lower body.",
                        max_length=8,
                    ),
                ),
                (
                    "lower2_share",
                    models.FloatField(
                        default=0.0,
                        help_text="Share of the lower body's pixels that have `lower2`.",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["colour", "-colour_share"], name="colours_colour"),
                    models.Index(fields=["colour2", "-colour2_share"], name="colours_colour2"),
                    models.Index(fields=["upper", "-upper_share"], name="colours_upper"),
                    models.Index(fields=["upper2", "-upper2_share"], name="colours_upper2"),
                    models.Index(fields=["lower", "-lower_share"], name="colours_lower"),
                    models.Index(fields=["lower2", "-lower2_share"], name="colours_lower2"),
                ],
            },
        ),
    ]
