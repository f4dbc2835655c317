"""Deleting crop objects that no detection row names: what a crash leaves behind.

`record_detection` puts a crop's JPEG before it commits the row (so a committed row always
names a stored object); a crash, a lost connection or a failed commit in between leaves an
object without a row. The edge re-sends the crop unless it was dropped from its outbox, so most
such objects get their row later; the rest would stay forever. The sweep
(`cloud.detections.tasks.sweep_orphan_crops`, run by Celery beat) deletes them.

Objects are found by listing, per known camera, the crop prefixes of the last few capture days
(`crops/<device>/<camera>/<yyyy>/<mm>/<dd>/`), never the whole bucket. What it therefore misses,
and leaves in place: crops captured before that window (uploaded late after a long outage),
and crops of a camera with no row at all (its first upload crashed and it never sent again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from cloud.detections.models import Detection
from cloud.fleet.models import Camera
from cloud.lib.objectstore import ObjectNotFound, ObjectStore
from cloud.lib.objectstore.keys import crop_day_prefix, detection_id_of_crop_key

logger = logging.getLogger(__name__)


class OrphanSweepSettings(BaseModel):
    """The orphan sweep (`settings.ORPHAN_SWEEP`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_s: int = Field(ge=1, description="How often Celery beat runs the sweep, in seconds.")
    grace_s: int = Field(
        ge=60,
        description="Age (since the object was written) before an object without a row is "
        "deleted; far above how long ingest takes from an object's put to its row's commit.",
    )
    days: int = Field(
        ge=1,
        description="Capture days looked at: today (UTC) and the days before it, plus tomorrow "
        "for devices whose clocks run ahead.",
    )


@dataclass
class OrphanSweepReport:
    """What one sweep did, by object key."""

    deleted: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    """Deleted while their row was being committed, and put back (see `sweep_orphan_crops`)."""


def sweep_orphan_crops(
    objects: ObjectStore, sweep: OrphanSweepSettings, *, now: datetime
) -> OrphanSweepReport:
    """Delete the crop objects of recent days that no row names and that are older than the
    grace period.

    A crop re-sent just as its orphan is deleted is the one race: ingest may have put the
    object again (before the delete) and commit its row only after this sweep looked for rows.
    So rows are looked up once more after the deletes, and an object whose row appeared is put
    back from the bytes read before deleting it (they are the same crop: the edge re-sends it
    unchanged). Raises `ObjectStoreError` (the next run tries again) and database errors.
    """
    report = OrphanSweepReport()
    cutoff = now - timedelta(seconds=sweep.grace_s)
    for prefix in _recent_prefixes(now, sweep.days):
        old: dict[str, bytes] = {}
        for key in _without_rows(list(objects.list(prefix))):
            data = _read_if_older(objects, key, cutoff)
            if data is not None:
                old[key] = data
        for key in old:
            objects.delete(key)
        still_orphans = _without_rows(list(old))
        for key in sorted(old):
            if key in still_orphans:
                logger.warning("deleted crop object %s: no detection row names it", key)
                report.deleted.append(key)
            else:
                objects.put(key, old[key], content_type="image/jpeg")
                logger.warning("put back crop object %s: its row was committed meanwhile", key)
                report.restored.append(key)
    return report


def _recent_prefixes(now: datetime, days: int) -> Iterator[str]:
    today = now.astimezone(UTC).date()
    dates = [today + timedelta(days=1 - offset) for offset in range(days + 1)]
    for device_id, camera_id in Camera.objects.values_list("device_id", "edge_id"):
        for day in dates:
            yield crop_day_prefix(device_id, camera_id, day)


def _without_rows(keys: list[str]) -> set[str]:
    """The crop keys among `keys` that no detection row names."""
    ids = {detection_id_of_crop_key(key) for key in keys} - {None}
    named = set(Detection.objects.filter(pk__in=ids).values_list("object_key", flat=True))
    return {key for key in keys if detection_id_of_crop_key(key) and key not in named}


def _read_if_older(objects: ObjectStore, key: str, cutoff: datetime) -> bytes | None:
    """The object's bytes if it was last written before `cutoff`, else None (also if gone)."""
    try:
        info = objects.stat(key)
        if info.last_modified is None or info.last_modified >= cutoff:
            return None
        return objects.get(key)
    except ObjectNotFound:
        return None
