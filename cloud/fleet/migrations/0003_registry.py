"""The registry: sites (made from the devices' former free-text site), tags, camera groups and
enrolments. Device.site becomes a key of Site in 0004; this one fills `site_ref`.

Each distinct former site becomes a Site. A blank one is the edge's default site, "default"
(the broker account command already read it so). A value outside the name grammar (the field
had no check) gets an id made from it and keeps its spelling as the site's name.
"""

import re

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import cloud.validators
from sightline.names import is_name

DEFAULT_SITE = "default"


def _made_id(value: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", value).lstrip("_.-")[:56] or "site"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def sites_from_devices(apps, schema_editor):  # type: ignore[no-untyped-def]
    Device = apps.get_model("fleet", "Device")
    Site = apps.get_model("fleet", "Site")
    values = set(Device.objects.order_by().values_list("site", flat=True).distinct())
    # Valid values keep their spelling as id; the others then get ids no valid one took.
    ids = {value: value for value in values if is_name(value)}
    ids[""] = DEFAULT_SITE
    taken = set(ids.values())
    for value in sorted(values - ids.keys()):
        ids[value] = _made_id(value, taken)
        taken.add(ids[value])
    for value, site_id in ids.items():
        Site.objects.get_or_create(id=site_id, defaults={"name": "" if value == site_id else value})
        Device.objects.filter(site=value).update(site_ref_id=site_id)


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0002_device_health"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Site",
            fields=[
                (
                    "id",
                    models.CharField(
                        max_length=64,
                        primary_key=True,
                        serialize=False,
                        validators=[cloud.validators.validate_edge_name],
                    ),
                ),
                ("name", models.CharField(blank=True, max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ("id",)},
        ),
        migrations.CreateModel(
            name="Tag",
            fields=[
                (
                    "id",
                    models.CharField(
                        max_length=64,
                        primary_key=True,
                        serialize=False,
                        validators=[cloud.validators.validate_edge_name],
                    ),
                ),
            ],
            options={"ordering": ("id",)},
        ),
        migrations.AddField(
            model_name="device",
            name="site_ref",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="fleet.site",
            ),
        ),
        migrations.RunPython(sites_from_devices, migrations.RunPython.noop),
        migrations.AddField(
            model_name="device",
            name="tags",
            field=models.ManyToManyField(blank=True, related_name="devices", to="fleet.tag"),
        ),
        migrations.AlterField(
            model_name="device",
            name="hardware_profile",
            field=models.CharField(
                choices=[
                    ("jetson-orin", "Jetson Orin"),
                    ("jetson-xavier", "Jetson Xavier"),
                    ("x86-gpu", "x86 with NVIDIA GPU"),
                    ("x86-cpu", "x86 CPU only"),
                ],
                max_length=16,
            ),
        ),
        migrations.CreateModel(
            name="CameraGroup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        max_length=64, validators=[cloud.validators.validate_edge_name]
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="groups",
                        to="fleet.site",
                    ),
                ),
                (
                    "cameras",
                    models.ManyToManyField(blank=True, related_name="groups", to="fleet.camera"),
                ),
            ],
            options={
                "ordering": ("site_id", "name"),
                "constraints": [
                    models.UniqueConstraint(
                        fields=("site", "name"), name="fleet_cameragroup_unique_name"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="Enrolment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "token_sha256",
                    models.CharField(
                        help_text="Lowercase hex SHA-256 of the token.", max_length=64, unique=True
                    ),
                ),
                ("hint", models.CharField(max_length=8)),
                (
                    "hardware_profile",
                    models.CharField(
                        choices=[
                            ("jetson-orin", "Jetson Orin"),
                            ("jetson-xavier", "Jetson Xavier"),
                            ("x86-gpu", "x86 with NVIDIA GPU"),
                            ("x86-cpu", "x86 CPU only"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "device_id",
                    models.CharField(
                        blank=True,
                        help_text="The id the device gets; blank lets the cloud choose one.",
                        max_length=64,
                        validators=[cloud.validators.validate_edge_name],
                    ),
                ),
                ("name", models.CharField(blank=True, max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("used_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "enrolled",
                    models.ForeignKey(
                        blank=True,
                        help_text="The device the token was exchanged for.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="enrolments",
                        to="fleet.device",
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="enrolments",
                        to="fleet.site",
                    ),
                ),
                ("tags", models.ManyToManyField(blank=True, related_name="+", to="fleet.tag")),
            ],
            options={"ordering": ("-created_at",)},
        ),
    ]
