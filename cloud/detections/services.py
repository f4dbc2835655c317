"""Recording what edge devices report about tracked objects: crops and track summaries.

The ingest edges check the wire contract (ids, boxes, required fields: `cloud.ingest.crops`,
`cloud.ingest.device_messages`) and call these functions with the result; the domain's rules
are checked here, once: the device is provisioned (`NotFound` otherwise), texts fit their
columns and hold no NUL, times carry a time zone, lie in the range the stores hold and are in
order, a track stays with the camera that started it and a detection id with the device that
stored it (`InvalidInput` otherwise). Callers never touch the ORM.

Tracks and detections are keyed by the ids the edge made for them, so every function here is
safe to call again with the same report (docs/architecture.md, "Identity and idempotency").
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime

from django.db import transaction

from cloud.detections.models import Detection, Track
from cloud.detections.track_rows import (
    camera_pk,
    claimed_tracks,
    in_transaction,
    insert_tracks,
    lock_tracks,
)
from cloud.errors import InvalidInput, NotFound
from cloud.lib.inserts import insert_new
from cloud.lib.objectstore import ObjectStore, context_key, crop_key, face_key
from cloud.validators import require_text, require_time

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class EdgeFace:
    """The person's face the edge found in a crop (`sightline.ingest.v1.EdgeFace`), wire-checked
    and turned into what the faces analyser needs: its box in fractions of the crop, and its
    box and landmarks in the pixels of its own JPEG (which SFace aligns on)."""

    in_crop: tuple[float, float, float, float]
    """x_min, y_min, x_max, y_max as fractions of the crop, in [0, 1]."""
    box: tuple[float, float, float, float]
    """x1, y1, x2, y2 in pixels of `jpeg`."""
    landmarks: tuple[float, ...]
    """Ten values x, y in pixels of `jpeg` (eyes, nose tip, mouth corners)."""
    score: float
    jpeg: bytes = field(repr=False)

    def geometry(self) -> dict[str, object]:
        """What `Detection.edge_face` stores: everything but the JPEG."""
        return {
            "in_crop": list(self.in_crop),
            "box": list(self.box),
            "landmarks": list(self.landmarks),
            "score": self.score,
        }


@dataclass(frozen=True, kw_only=True)
class NewDetection:
    """A crop as the edge reports it (`sightline.ingest.v1.UploadCropsRequest`), wire-checked.

    The box is in normalised frame coordinates, as on the wire and as stored: x_min <= x_max and
    y_min <= y_max, all in [0, 1] (origin top-left, x right, y down), with the frame size in
    pixels beside it. `track_id` is the edge's track id, `jpeg` the crop itself.
    """

    id: str
    device_id: str
    camera_id: str
    track_id: str
    ts: datetime
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    frame_width: int
    frame_height: int
    label: str
    score: float
    model_name: str
    model_version: str
    jpeg: bytes = field(repr=False)
    context_jpeg: bytes = field(default=b"", repr=False)
    face: EdgeFace | None = None
    """The face the edge found in the crop, if it looked and found one."""


@dataclass(frozen=True)
class StoredCrop:
    """The outcome of `record_detection`."""

    created: bool
    """True when this call stored the detection; False for a repeat of a stored one."""
    needs_embedding: bool
    """True unless the detection's vector is already in the vector store."""


def record_detection(detection: NewDetection, objects: ObjectStore) -> StoredCrop:
    """Store a detection's JPEG in `objects` and its row, once per detection id.

    The domain's rules (module docstring) are checked first; the camera and the track are
    created on first sight. The one existence check is the row's insert on the edge-made id
    (``ON CONFLICT DO NOTHING``), in a transaction under the track's row lock, and the JPEG is
    put after it and before the commit, so

    - a committed row always names a stored object;
    - a refused detection (`InvalidInput`, `NotFound`) or a repeat of a stored one writes no
      object, and a repeat changes nothing at all: the first payload wins, JPEG included, also
      when two uploads of one id race (the second insert waits for the first to commit, then
      finds its row);
    - a repeat is a duplicate only for the device that stored the id; another device's is
      refused (`InvalidInput`), so no device learns about another one's crops;
    - a transient failure (object store or database) leaves no row, and at worst an object
      that the edge's unchanged retry overwrites.

    The crop's context frame and edge face, when it has them, are put beside its JPEG with the
    same guarantees.
    The track's time span and its best (highest-scoring) detection are updated under the same
    lock, so concurrent uploads for one track cannot lose an update. The price is that an
    upload holds its track's lock for one object put; uploads of other tracks do not wait.
    """
    _check(detection)

    def store() -> StoredCrop:
        if _store([detection], objects, None):
            return StoredCrop(created=True, needs_embedding=True)
        # The insert found the id taken: by this device (a repeat) or by another one.
        owner, embedded_at = Detection.objects.values_list("device_id", "embedded_at").get(
            pk=detection.id
        )
        if owner != detection.device_id:
            # Ids are global, so another device's repeat is no duplicate of its own: it must
            # learn nothing of the stored crop (not even that it is stored), and the exception
            # undoes what it added on first sight.
            raise InvalidInput(f"detection_id: {detection.id} cannot be used")
        # Undo what the repeat may have added on first sight (a camera or a track of a payload
        # that differs from the stored one), so that it changes nothing.
        transaction.set_rollback(True)
        return StoredCrop(created=False, needs_embedding=embedded_at is None)

    stored = in_transaction(store)
    logger.debug(
        "%s detection %s on track %s",
        "recorded" if stored.created else "already had",
        detection.id,
        detection.track_id,
        extra={"device_id": detection.device_id, "camera_id": detection.camera_id},
    )
    return stored


class NotAllNew(Exception):
    """`record_detections` stored nothing: one of the detections is a repeat or refused."""


def record_detections(
    detections: Sequence[NewDetection], objects: ObjectStore, puts: Executor | None = None
) -> None:
    """Store new detections together: one transaction, their JPEGs put side by side.

    All or nothing, with the guarantees of `record_detection` for each: every detection is
    stored as new and committed together, or this raises, having committed nothing. It raises
    `NotAllNew` before any object is put when a detection is a repeat (of a stored id, or twice
    in `detections`) or refused (a domain rule, another camera's track, an unknown device), and
    whatever a store raised otherwise. The caller then stores them one by one with
    `record_detection`, which gives each its own outcome. The tracks are locked in id order,
    so two groups sharing tracks wait for each other instead of deadlocking. `puts` runs the
    object puts at once (one after the other without it); every put has ended before this
    returns or raises.
    """
    if len({detection.id for detection in detections}) < len(detections):
        raise NotAllNew("a detection id occurs twice")

    def store() -> None:
        if not _store(detections, objects, puts):
            raise NotAllNew("a detection id is stored already")

    try:
        for detection in detections:
            _check(detection)
        in_transaction(store)
    except (InvalidInput, NotFound) as err:
        raise NotAllNew(str(err)) from err
    logger.debug("recorded %d detections", len(detections))


def _check(detection: NewDetection) -> None:
    require_time(detection.ts, "ts")
    for name in ("label", "model_name", "model_version"):
        require_text(getattr(detection, name), Detection, name)


@dataclass
class _TrackState:
    """A locked track as the group finds it, and as its detections leave it."""

    first_seen: datetime
    last_seen: datetime
    best_score: float | None
    best_detection_id: str | None = None
    """Set when a detection of the group became the best."""
    label: str = ""
    """The best detection's label, once `best_detection_id` is set."""
    changed: bool = False

    def extend(self, detection: NewDetection) -> None:
        if detection.ts < self.first_seen or detection.ts > self.last_seen:
            self.first_seen = min(self.first_seen, detection.ts)
            self.last_seen = max(self.last_seen, detection.ts)
            self.changed = True
        # Ties keep the earlier crop, so the shown crop does not flicker between equal scores.
        if self.best_score is None or detection.score > self.best_score:
            self.best_score = detection.score
            self.best_detection_id = detection.id
            self.label = detection.label
            self.changed = True


def _store(detections: Sequence[NewDetection], objects: ObjectStore, puts: Executor | None) -> bool:
    """Inside a transaction: insert the detections' rows, put their JPEGs, extend their tracks.

    Returns False, having put nothing, when a detection's id is taken (the caller rolls back);
    raises `InvalidInput` for a track of another camera, `NotFound` for an unknown device.
    Statements: one per camera to find it, one to lock the tracks, one for their best scores,
    one to insert the new tracks, one to insert the detections, one per existing track that
    changed.
    """
    pairs = {(d.device_id, d.camera_id) for d in detections}
    cameras = {pair: camera_pk(*pair) for pair in pairs}
    claims = claimed_tracks((d.track_id, cameras[d.device_id, d.camera_id]) for d in detections)
    found = lock_tracks(claims)
    # The best scores in a statement of their own, after the locks: a join in the locking
    # statement would read the best detection as of that statement's start, missing the one
    # that the transaction it waited for has just committed.
    best = {best_id for *_, best_id in found.values() if best_id is not None}
    scores = dict(Detection.objects.filter(pk__in=best).values_list("pk", "score")) if best else {}
    states = {
        track_id: _TrackState(
            first_seen, last_seen, None if best_id is None else scores.get(best_id)
        )
        for track_id, (first_seen, last_seen, best_id) in found.items()
    }
    for detection in detections:
        states.setdefault(detection.track_id, _TrackState(detection.ts, detection.ts, None))
        states[detection.track_id].extend(detection)
    insert_tracks(
        [
            Track(
                id=track_id,
                camera_id=camera,
                label=states[track_id].label,
                first_seen=states[track_id].first_seen,
                last_seen=states[track_id].last_seen,
                # The detection is inserted below, in this transaction: the foreign key is
                # checked at the commit (Django makes every foreign key deferrable).
                best_detection_id=states[track_id].best_detection_id,
            )
            for track_id, camera in claims.items()
            if track_id not in found
        ]
    )
    rows = [
        Detection(
            id=d.id,
            track_id=d.track_id,
            camera_id=cameras[d.device_id, d.camera_id],
            device_id=d.device_id,
            ts=d.ts,
            x_min=d.x_min,
            y_min=d.y_min,
            x_max=d.x_max,
            y_max=d.y_max,
            frame_width=d.frame_width,
            frame_height=d.frame_height,
            label=d.label,
            score=d.score,
            object_key=crop_key(d.device_id, d.camera_id, d.ts, d.id),
            context_key=context_key(d.device_id, d.camera_id, d.ts, d.id) if d.context_jpeg else "",
            face_key=face_key(d.device_id, d.camera_id, d.ts, d.id) if d.face else "",
            edge_face=d.face.geometry() if d.face else None,
            model_name=d.model_name,
            model_version=d.model_version,
        )
        for d in detections
    ]
    if insert_new(rows) < len(rows):
        return False
    images = [(row.object_key, d.jpeg) for row, d in zip(rows, detections, strict=True)]
    images += [
        (row.context_key, d.context_jpeg)
        for row, d in zip(rows, detections, strict=True)
        if row.context_key
    ]
    images += [
        (row.face_key, d.face.jpeg)
        for row, d in zip(rows, detections, strict=True)
        if row.face_key and d.face
    ]
    _put_all(objects, images, puts)
    for track_id, state in states.items():
        if track_id not in found or not state.changed:
            continue
        changes: dict[str, object] = {"first_seen": state.first_seen, "last_seen": state.last_seen}
        if state.best_detection_id is not None:
            changes |= {"best_detection_id": state.best_detection_id, "label": state.label}
        Track.objects.filter(pk=track_id).update(**changes)
    return True


def _put_all(
    objects: ObjectStore, items: Sequence[tuple[str, bytes]], puts: Executor | None
) -> None:
    """Put every (key, JPEG); with `puts`, side by side. Raises the first failure once every
    put has ended, so that none is still running when the caller rolls back."""
    if puts is None or len(items) == 1:
        for key, jpeg in items:
            objects.put(key, jpeg, content_type="image/jpeg")
        return
    running = [
        puts.submit(objects.put, key, jpeg, content_type="image/jpeg") for key, jpeg in items
    ]
    wait(running)
    for done in running:
        done.result()


@dataclass(frozen=True, slots=True)
class PathPoint:
    """A point of a track's path, wire-checked: its time and the box centre in normalised
    frame coordinates (x, y in [0, 1])."""

    time: datetime
    x: float
    y: float


@dataclass(frozen=True, kw_only=True)
class NewTrackSummary:
    """What a `sightline.device.v1.TrackSummary` says about a track, wire-checked.

    `path` is oldest first, within first_seen..last_seen; empty when the summary has none.
    """

    camera_id: str
    track_id: str
    label: str
    first_seen: datetime
    last_seen: datetime
    path: tuple[PathPoint, ...] = ()


def record_track_summary(
    device_id: str,
    *,
    camera_id: str,
    track_id: str,
    label: str,
    first_seen: datetime,
    last_seen: datetime,
    path: Sequence[PathPoint] = (),
) -> bool:
    """Create the track or widen its time span; return False if the track already said so.

    The arguments are those of a `sightline.device.v1.TrackSummary`, wire-checked. Summaries
    repeat and may arrive before or after the track's crops, so the span only ever grows and a
    repeat changes nothing: a repeat (and a summary that an earlier one superseded) returns
    False, which the ingest answers as a duplicate. The label is taken only when the summary
    creates the track: after that, the best uploaded crop sets it (`record_detection`), and two
    writers taking turns would make it flicker. The path is the latest summary's: each carries
    the whole path so far, so a summary's path replaces the stored one unless the summary is
    older than the track (its last_seen before the track's); a summary without a path leaves it.
    """
    summary = NewTrackSummary(
        camera_id=camera_id,
        track_id=track_id,
        label=label,
        first_seen=first_seen,
        last_seen=last_seen,
        path=tuple(path),
    )
    (widened,) = record_track_summaries(device_id, [summary])
    return widened


def record_track_summaries(device_id: str, summaries: Sequence[NewTrackSummary]) -> list[bool]:
    """`record_track_summary` for each of `summaries` in turn, in one transaction.

    Returns each one's outcome as if stored alone, in order. All or nothing: a summary that
    breaks a rule or names another camera's track raises (`InvalidInput`, `NotFound` for an
    unknown device) and nothing is stored. Statements: one per camera, one to lock the tracks,
    one to create the new ones, one per existing track that widened or took a path.
    """
    for summary in summaries:
        require_text(summary.label, Track, "label")
        require_time(summary.first_seen, "first_seen")
        require_time(summary.last_seen, "last_seen")
        if summary.first_seen > summary.last_seen:
            raise InvalidInput("first_seen: must not be after last_seen")

    def store() -> list[bool]:
        cameras = {
            camera: camera_pk(device_id, camera) for camera in {s.camera_id for s in summaries}
        }
        claims = claimed_tracks((s.track_id, cameras[s.camera_id]) for s in summaries)
        spans = {track: (first, last) for track, (first, last, _) in lock_tracks(claims).items()}
        labels: dict[str, str] = {}
        paths: dict[str, list[list[float]]] = {}
        changed: set[str] = set()
        widened = []
        for summary in summaries:
            span = spans.get(summary.track_id)
            if summary.path and (span is None or summary.last_seen >= span[1]):
                paths[summary.track_id] = path_json(summary.path)
            if span is None:
                # The label is taken only when a summary creates the track.
                labels[summary.track_id] = summary.label
            elif summary.first_seen >= span[0] and summary.last_seen <= span[1]:
                widened.append(False)
                continue
            else:
                changed.add(summary.track_id)
                summary = replace(
                    summary,
                    first_seen=min(span[0], summary.first_seen),
                    last_seen=max(span[1], summary.last_seen),
                )
            spans[summary.track_id] = (summary.first_seen, summary.last_seen)
            widened.append(True)
        insert_tracks(
            [
                Track(
                    id=track,
                    camera_id=claims[track],
                    label=label,
                    first_seen=spans[track][0],
                    last_seen=spans[track][1],
                    path=paths.get(track, []),
                )
                for track, label in labels.items()
            ]
        )
        for track in (changed | paths.keys()) - labels.keys():
            first_seen, last_seen = spans[track]
            changes: dict[str, object] = {"first_seen": first_seen, "last_seen": last_seen}
            if track in paths:
                changes["path"] = paths[track]
            Track.objects.filter(pk=track).update(**changes)
        return widened

    return in_transaction(store)


def path_json(path: Sequence[PathPoint]) -> list[list[float]]:
    """A path as `Track.path` stores it: [unix seconds, x, y] per point."""
    return [[point.time.timestamp(), point.x, point.y] for point in path]
