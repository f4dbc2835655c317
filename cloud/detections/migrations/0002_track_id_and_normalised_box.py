"""The edge's track id becomes the track's key, and boxes are stored as the wire sends them.

- `Track.id` was an auto id beside `Track.edge_id`; it now is the edge's track id (a UUID), so
  `Detection.track_id` is the id the edge sent. Tracks whose `edge_id` is not a canonical UUID
  (the "<camera>/<session>/<n>" keys of agents before tracks had UUIDs), or whose UUID another
  camera's track already took, get a UUID derived from device, camera and key, so no two
  tracks merge.
- Detection boxes change from frame pixels (`x1` .. `y2`) to fractions of the frame size stored
  beside them (`x_min` .. `y_max`, in [0, 1]).

Not reversible: the auto ids are gone. 0003 finishes in its own transaction, because PostgreSQL
does not alter a table while this one's deferred foreign-key checks on it are pending.
"""

import uuid

import django.core.validators
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import F, OuterRef, Subquery

# Namespace of the UUIDs derived for tracks whose edge_id is not a usable UUID.
LEGACY_TRACKS = uuid.UUID("5e8f1f43-71d5-4d1c-985c-0238465600d3")


def _is_canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def normalise_boxes(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    detection = apps.get_model("detections", "Detection")
    detection.objects.update(
        x_min=F("x_min") / F("frame_width"),
        y_min=F("y_min") / F("frame_height"),
        x_max=F("x_max") / F("frame_width"),
        y_max=F("y_max") / F("frame_height"),
    )


def key_tracks_by_edge_id(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    track = apps.get_model("detections", "Track")
    detection = apps.get_model("detections", "Detection")
    taken: set[str] = set()
    rows = track.objects.order_by("pk").values_list(
        "pk", "edge_id", "camera__device_id", "camera__edge_id"
    )
    for pk, edge_id, device_id, camera_id in rows:
        track_id = edge_id
        if not _is_canonical_uuid(edge_id) or edge_id in taken:
            track_id = str(uuid.uuid5(LEGACY_TRACKS, f"{device_id}/{camera_id}/{edge_id}"))
            track.objects.filter(pk=pk).update(edge_id=track_id)
        taken.add(track_id)
    # Foreign keys are checked at commit (PostgreSQL: deferred; SQLite: off while migrating), so
    # the detections can point at the new keys before the tracks carry them.
    detection.objects.update(
        track_id=Subquery(track.objects.filter(pk=OuterRef("track_id")).values("edge_id"))
    )
    track.objects.update(id=F("edge_id"))


class Migration(migrations.Migration):
    dependencies = [
        ("detections", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="detection", name="detections_bbox_ordered"),
        migrations.RemoveConstraint(model_name="track", name="detections_track_unique_edge_id"),
        migrations.RenameField(model_name="detection", old_name="x1", new_name="x_min"),
        migrations.RenameField(model_name="detection", old_name="y1", new_name="y_min"),
        migrations.RenameField(model_name="detection", old_name="x2", new_name="x_max"),
        migrations.RenameField(model_name="detection", old_name="y2", new_name="y_max"),
        migrations.AlterField(
            model_name="detection",
            name="x_min",
            field=models.FloatField(help_text="Left edge, as a fraction of the frame width."),
        ),
        migrations.AlterField(
            model_name="detection",
            name="y_min",
            field=models.FloatField(help_text="Top edge, as a fraction of the frame height."),
        ),
        migrations.AlterField(
            model_name="detection",
            name="x_max",
            field=models.FloatField(help_text="Right edge, as a fraction of the frame width."),
        ),
        migrations.AlterField(
            model_name="detection",
            name="y_max",
            field=models.FloatField(help_text="Bottom edge, as a fraction of the frame height."),
        ),
        migrations.AlterField(
            model_name="detection",
            name="frame_width",
            field=models.PositiveIntegerField(help_text="Width in pixels of the frame."),
        ),
        migrations.AlterField(
            model_name="detection",
            name="frame_height",
            field=models.PositiveIntegerField(help_text="Height in pixels of the frame."),
        ),
        migrations.AlterField(
            model_name="track",
            name="id",
            field=models.CharField(
                max_length=36,
                primary_key=True,
                serialize=False,
                validators=[
                    django.core.validators.RegexValidator(
                        "\\A[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\\Z",
                        "Use a UUID in canonical lowercase 8-4-4-4-12 form.",
                    )
                ],
            ),
        ),
        migrations.RunPython(normalise_boxes),
        migrations.RunPython(key_tracks_by_edge_id),
    ]
