"""Cameras and track rows as the crop and summary services find, lock and create them.

Both services (`cloud.detections.services`) run inside a transaction that `in_transaction`
opens: they find the device's cameras (`camera_pk`), lock the tracks they touch in id order
(`lock_tracks`, so that two transactions sharing tracks wait for each other instead of
deadlocking) and create the tracks not found (`insert_tracks`). Track ids are global, so a
track under another camera, or claimed by two cameras at once, is refused (`InvalidInput`): a
device adds only to its own cameras' tracks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from django.db import transaction

from cloud.detections.models import Track
from cloud.errors import InvalidInput
from cloud.fleet.models import Camera
from cloud.fleet.services import ensure_device_exists
from cloud.lib.inserts import insert_new

T = TypeVar("T")


class _TrackRaced(Exception):
    """A track this transaction meant to create was created by another one meanwhile."""


def in_transaction(work: Callable[[], T]) -> T:
    """Run `work` in a transaction, and again after a rollback whenever a track it was about
    to create was created by a concurrent upload meanwhile (the next run finds and locks it;
    each run that races leaves one more of its tracks existing, so this ends)."""
    while True:
        try:
            with transaction.atomic():
                return work()
        except _TrackRaced:
            continue


def camera_pk(device_id: str, camera_id: str) -> int:
    """The key of the device's camera, created on first sight; `NotFound` for an unknown device.

    A known camera proves its device provisioned (cameras are deleted with their device), so
    the device is looked up only when the camera is new.
    """
    found = (
        Camera.objects.filter(device_id=device_id, edge_id=camera_id)
        .values_list("pk", flat=True)
        .first()
    )
    if found is not None:
        return found
    ensure_device_exists(device_id)
    camera, _ = Camera.objects.get_or_create(device_id=device_id, edge_id=camera_id)
    return camera.pk


def claimed_tracks(claims: Iterable[tuple[str, int]]) -> dict[str, int]:
    """(track id, camera key) pairs as track id -> camera key; `InvalidInput` when two cameras
    claim one track."""
    cameras: dict[str, int] = {}
    for track_id, camera in claims:
        if cameras.setdefault(track_id, camera) != camera:
            raise another_camera(track_id)
    return cameras


def lock_tracks(cameras: Mapping[str, int]) -> dict[str, tuple[datetime, datetime, str | None]]:
    """Lock the existing tracks among `cameras` (track id -> its camera key) in id order.

    Returns track id -> (first seen, last seen, best detection id) of each one found;
    `InvalidInput` when one belongs to another camera than claimed.
    """
    found = (
        Track.objects.select_for_update()
        .filter(pk__in=cameras)
        .order_by("pk")
        .values_list("pk", "camera_id", "first_seen", "last_seen", "best_detection_id")
    )
    tracks: dict[str, tuple[datetime, datetime, str | None]] = {}
    for track_id, camera, first_seen, last_seen, best_id in found:
        if camera != cameras[track_id]:
            raise another_camera(track_id)
        tracks[track_id] = (first_seen, last_seen, best_id)
    return tracks


def insert_tracks(tracks: Sequence[Track]) -> None:
    """Create tracks that `lock_tracks` did not find; if another upload created one of them
    since, abandon the transaction for `in_transaction` to run again."""
    if insert_new(sorted(tracks, key=lambda track: track.pk)) < len(tracks):
        raise _TrackRaced


def another_camera(track_id: str) -> InvalidInput:
    """The refusal of a track that belongs to another camera."""
    # The message says nothing about whose track it is.
    return InvalidInput(f"track_id: {track_id} belongs to another camera")
