"""Who may mark which crops: labelers and above, and only crops of cameras they may see.

Views and the API check through here before calling `cloud.labels.marks`, in this order: the
role first (403, `require_labeler`), then the crops (`visible_crops`, `visible_batch`): a crop
or batch the user may not see is "not found", as one that does not exist, so that a 404 never
confirms an id of another scope (as everywhere in search, docs/architecture.md "Security").
Labels themselves are shared: every user sees every label's name, and of its marks only those
on their cameras.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable

from django.core.exceptions import ValidationError

from cloud.access.models import Role
from cloud.access.roles import User, check_role
from cloud.access.scope import visible_camera_ids
from cloud.detections.models import Detection
from cloud.errors import NotFound
from cloud.labels.models import MarkEvent
from cloud.validators import validate_detection_id


def require_labeler(user: User) -> None:
    """Raise `PermissionDenied` (403) unless the user may mark crops and change labels."""
    check_role(user, Role.LABELER)


def visible_crops(user: User, detection_ids: Iterable[str]) -> dict[str, Detection]:
    """The detections of `detection_ids`, by id, with their camera and track joined; raise
    `NotFound` naming the first id that is malformed, unknown or of a camera the user may not
    see."""
    return crops_within(visible_camera_ids(user), detection_ids)


def crops_within(
    cameras: Collection[int] | None, detection_ids: Iterable[str]
) -> dict[str, Detection]:
    """`visible_crops` for a known set of visible `cameras` (None: every camera)."""
    wanted = sorted(set(detection_ids))
    for pk in wanted:
        try:
            validate_detection_id(pk)
        except ValidationError:
            raise NotFound(f"no detection {pk!r}") from None
    rows = Detection.objects.select_related("camera", "track__camera__device").in_bulk(wanted)
    for pk in wanted:
        row = rows.get(pk)
        if row is None or (cameras is not None and row.camera_id not in cameras):
            raise NotFound(f"no detection {pk!r}")
    return rows


def visible_batch(user: User, batch: uuid.UUID, *, label_id: int | None = None) -> None:
    """Raise `NotFound` unless `batch` (of `label_id`, when given) changed something and every
    crop it changed is one the user may see."""
    events = MarkEvent.objects.filter(batch=batch)
    if label_id is not None:
        events = events.filter(label_id=label_id)
    cameras = set(events.values_list("detection__camera_id", flat=True))
    visible = visible_camera_ids(user)
    if not cameras or (visible is not None and not cameras <= visible):
        raise NotFound(f"no batch {batch} of mark changes")
