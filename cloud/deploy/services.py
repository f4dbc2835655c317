"""Desired vs reported state of devices: the seam rollouts call, and what the pages show.

- `assign_model(device_ids, model_version, ...)` writes a new generation of each device's
  desired state (and its history row); the bridge publishes it, retained, soon after
  (`cloud.deploy.publisher`), and again with fresh download URLs on demand (`republish`) or when
  a device comes back after its URLs expired (`refresh_expired_urls`).
- `assign_agent_image(device_ids, image, ...)` does the same for the agent's container image,
  which the device hands to its host to switch to (docker/edge-jetson/README.md).
- `record_reported_state` stores what a device says it runs: the truth the pages show, also
  after a device refused a model or rolled itself back.
- `drift` compares the two per device.
- `send_command` queues a command (`report_state`: report now) for the bridge to publish; it
  expires unpublished or unrun after its time to live.
"""

from __future__ import annotations

import enum
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from cloud.deploy.models import (
    AGENT_IMAGE_LENGTH,
    DesiredState,
    DesiredStateChange,
    DeviceCommand,
    ModelVersion,
    ReportedState,
)
from cloud.deploy.registry import download_url
from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import Device
from cloud.validators import require_bigint, require_time, validate_edge_name
from sightline.device.v1 import command_pb2, state_pb2
from sightline.device.v1.topics import validate_level

logger = logging.getLogger(__name__)

EVERY_CAMERA: Final = ""
"""The camera id of a desired model that applies to every camera of the device."""
# A device coming online gets fresh URLs when its published ones expire within this margin,
# so that a download it starts now does not run into the expiry.
_URL_MARGIN: Final = timedelta(minutes=10)


def assign_model(
    device_ids: Sequence[str],
    model_version: ModelVersion,
    *,
    cameras: Sequence[str] | None = None,
    actor: str,
    reason: str,
) -> dict[str, int]:
    """Make `model_version` the desired model of `cameras` (every camera when None) of each
    device; return each device's new generation.

    One transaction: every device exists (else NotFound, nothing changes), each device's
    generation grows by one, and a history row records `actor` and `reason`. Publishing is the
    bridge's: it sends each new generation, retained, on the device's `desired` topic.
    """
    for camera in cameras or ():
        try:
            validate_edge_name(camera)
        except ValidationError as err:
            raise InvalidInput(f"camera id {camera!r} is not valid") from err

    def change(state: DesiredState) -> None:
        wanted = {} if cameras is None else dict(state.cameras)
        for camera in cameras if cameras is not None else (EVERY_CAMERA,):
            wanted[camera] = model_version.pk
        state.cameras = wanted

    generations = _change_desired(device_ids, change, actor=actor, reason=reason)
    logger.info(
        "%s assigned model %s %s to %d devices (%s): %s",
        actor, model_version.name, model_version.version, len(generations), reason,
        _listed(generations),
    )  # fmt: skip
    return generations


# docker's image reference, `[host[:port]/]path:tag[@sha256:digest]`, with the tag required:
# the tag is the agent version the device reports once it runs the image (`agent_version`).
_AGENT_IMAGE: Final = re.compile(
    r"(?P<name>[a-z0-9][a-z0-9._-]*(?::[0-9]{1,5})?(?:/[a-z0-9][a-z0-9._-]*)*)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(?:@sha256:[0-9a-f]{64})?"
)


def agent_version_of(image: str) -> str:
    """The agent version an image runs: its tag (`sightline-edge-jetson:0.2.0` runs 0.2.0, as
    `sightline-jetson image build` tags it). InvalidInput for a reference without a tag or one
    docker would not take."""
    match = _AGENT_IMAGE.fullmatch(image) if len(image) <= AGENT_IMAGE_LENGTH else None
    if match is None:
        raise InvalidInput(
            f"agent image {image[:80]!r} is not a docker image reference with a tag "
            "(repository:version)"
        )
    return match["tag"]


def assign_agent_image(
    device_ids: Sequence[str], image: str, *, actor: str, reason: str
) -> dict[str, int]:
    """Make `image` the desired agent image of each device (models unchanged); return each
    device's new generation. As `assign_model`: one transaction, a generation and a history
    row per device. InvalidInput for an image without a version tag (`agent_version_of`)."""
    agent_version_of(image)

    def change(state: DesiredState) -> None:
        state.agent_image = image

    generations = _change_desired(device_ids, change, actor=actor, reason=reason)
    logger.info(
        "%s assigned agent image %s to %d devices (%s): %s",
        actor, image, len(generations), reason, _listed(generations),
    )  # fmt: skip
    return generations


def _listed(generations: dict[str, int]) -> str:
    return ", ".join(f"{device} g{generation}" for device, generation in generations.items())


def _change_desired(
    device_ids: Sequence[str], change: Callable[[DesiredState], None], *, actor: str, reason: str
) -> dict[str, int]:
    """Apply `change` to each device's desired state as a new generation, with its history
    row, in one transaction; NotFound (nothing changes) when a device does not exist."""
    now = timezone.now()
    generations: dict[str, int] = {}
    with transaction.atomic():
        devices = set(
            Device.objects.select_for_update()
            .filter(pk__in=device_ids)
            .values_list("pk", flat=True)
        )
        missing = sorted(set(device_ids) - devices)
        if missing:
            raise NotFound(f"unknown devices: {', '.join(missing)}")
        current = {
            state.device_id: state
            for state in DesiredState.objects.select_for_update().filter(device_id__in=devices)
        }
        for device_id in sorted(devices):
            state = current.get(device_id) or DesiredState(device_id=device_id, generation=0)
            change(state)
            state.generation += 1
            state.changed_by, state.reason, state.changed_at = actor, reason, now
            state.save()
            DesiredStateChange.objects.create(
                device_id=device_id,
                generation=state.generation,
                cameras=state.cameras,
                agent_image=state.agent_image,
                config_version=state.config_version,
                changed_by=actor,
                reason=reason,
                changed_at=now,
            )
            generations[device_id] = state.generation
    return generations


def republish(device_ids: Iterable[str]) -> int:
    """Have the bridge publish these devices' desired states again, with fresh download URLs;
    return how many have one."""
    return DesiredState.objects.filter(device_id__in=list(device_ids)).update(
        published_generation=0
    )


def refresh_expired_urls(device_id: str) -> bool:
    """Republish the device's desired state if its download URLs expire soon (called when the
    device comes online: the retained copy it is about to get may be too old to download)."""
    soon = timezone.now() + _URL_MARGIN
    return bool(
        DesiredState.objects.filter(device_id=device_id, url_expires_at__lt=soon).update(
            published_generation=0
        )
    )


def pending(sites: Sequence[str], limit: int) -> list[DesiredState]:
    """Desired states not yet published, of devices at `sites` (all when empty), oldest change
    first."""
    query = DesiredState.objects.filter(_at_sites(sites), published_generation__lt=F("generation"))
    return list(query.select_related("device").order_by("changed_at")[:limit])


def _at_sites(sites: Sequence[str]) -> Q:
    """Rows of devices at `sites` (every row when empty)."""
    if not sites:
        return Q()
    return Q(device__site_id__in=sites)


def desired_message(state: DesiredState) -> tuple[state_pb2.DesiredState, datetime | None]:
    """The DesiredState message of a row, with fresh download URLs, and when they expire."""
    message = state_pb2.DesiredState(
        generation=state.generation,
        config_version=state.config_version,
        agent_image=state.agent_image,
    )
    message.time.FromDatetime(state.changed_at)
    versions = ModelVersion.objects.in_bulk(set(state.cameras.values()))
    expires_at: datetime | None = None
    for camera_id, version_id in sorted(state.cameras.items()):
        version = versions[version_id]
        url, expires_at = download_url(version)
        entry = message.cameras.add(
            camera_id=camera_id,
            sha256=version.sha256,
            url=url,
            size=version.size,
            manifest=version.manifest_toml.encode(),
            signature=bytes(version.signature),
            key_id=version.key_id,
        )
        entry.model.name, entry.model.version = version.name, version.version
        entry.url_expire_time.FromDatetime(expires_at)
    return message, expires_at


def mark_published(device_id: str, generation: int, url_expires_at: datetime | None) -> None:
    """Record that `generation` of the device's desired state reached the broker."""
    DesiredState.objects.filter(device_id=device_id, published_generation__lt=generation).update(
        published_generation=generation, url_expires_at=url_expires_at
    )


@dataclass(frozen=True)
class ReportedCamera:
    """A model a device reports running on a camera."""

    camera_id: str
    name: str
    version: str


def record_reported_state(
    device_id: str,
    *,
    seq: int,
    generation: int,
    config_version: str,
    cameras: Sequence[ReportedCamera],
    error: str,
    reported_at: datetime,
    received_at: datetime,
    agent_image: str = "",
) -> bool:
    """Store a device's report unless a newer one (by `seq`) is stored; return whether stored.

    NotFound for a device that was never registered; InvalidInput for a seq or generation the
    database cannot hold, or a report time outside the accepted range.
    """
    require_bigint(seq, "seq", minimum=1)
    require_bigint(generation, "generation")
    require_time(reported_at, "time")
    if not Device.objects.filter(pk=device_id).exists():
        raise NotFound(f"device {device_id!r} is not provisioned")
    values = {
        "seq": seq,
        "generation": generation,
        "config_version": config_version,
        "cameras": [camera.__dict__ for camera in cameras],
        "agent_image": agent_image,
        "error": error,
        "reported_at": reported_at,
        "received_at": received_at,
    }
    with transaction.atomic():
        if ReportedState.objects.filter(device_id=device_id, seq__lt=seq).update(**values):
            stored = True
        else:
            _, stored = ReportedState.objects.get_or_create(device_id=device_id, defaults=values)
    if stored and error:
        logger.warning(
            "device %s did not apply generation %d: %s", device_id, generation, error,
            extra={"device_id": device_id},
        )  # fmt: skip
    return stored


class Drift(enum.StrEnum):
    """How a device's reported state compares with its desired state."""

    CONVERGED = "converged"
    """It reports the desired generation, without error."""
    UNPUBLISHED = "unpublished"
    """The bridge has not yet published the desired generation."""
    PENDING = "pending"
    """Published; the device has not reported that generation yet (busy, or offline)."""
    FAILED = "failed"
    """It processed the desired generation and reported an error: it runs its old models."""


@dataclass(frozen=True)
class DeviceDeployment:
    """One device's desired and reported state, side by side."""

    device_id: str
    drift: Drift
    desired: DesiredState
    reported: ReportedState | None


def drift_of(desired: DesiredState, reported: ReportedState | None) -> Drift:
    """Compare one device's desired state with what it reported."""
    if reported is not None and reported.generation >= desired.generation:
        return Drift.FAILED if reported.error else Drift.CONVERGED
    if desired.published_generation < desired.generation:
        return Drift.UNPUBLISHED
    return Drift.PENDING


def deployments(device_ids: Sequence[str] | None = None) -> list[DeviceDeployment]:
    """Every device with a desired state (or those of `device_ids`), by device id."""
    query = DesiredState.objects.order_by("device_id")
    if device_ids is not None:
        query = query.filter(device_id__in=device_ids)
    states = list(query)
    reported = ReportedState.objects.in_bulk([state.device_id for state in states])
    return [
        DeviceDeployment(
            state.device_id,
            drift_of(state, reported.get(state.device_id)),
            state,
            reported.get(state.device_id),
        )
        for state in states
    ]


def drift() -> list[DeviceDeployment]:
    """Devices whose reported state is not their desired one."""
    return [item for item in deployments() if item.drift is not Drift.CONVERGED]


def deployment(device_id: str) -> DeviceDeployment | None:
    """One device's desired and reported state; None when nothing was assigned to it, NotFound
    for an unknown device."""
    if not Device.objects.filter(pk=device_id).exists():
        raise NotFound(f"device {device_id!r} is not provisioned")
    found = deployments([device_id])
    return found[0] if found else None


def reported_only(device_id: str) -> ReportedState | None:
    """What the device last reported, whether or not anything was assigned to it."""
    return ReportedState.objects.filter(device_id=device_id).first()


def agent_images(device_ids: Sequence[str]) -> dict[str, str]:
    """The agent image each device is meant to run: the desired one, else the one it last
    reported running; devices with neither are left out."""
    reported = dict(
        ReportedState.objects.filter(device_id__in=device_ids)
        .exclude(agent_image="")
        .values_list("device_id", "agent_image")
    )
    desired = dict(
        DesiredState.objects.filter(device_id__in=device_ids)
        .exclude(agent_image="")
        .values_list("device_id", "agent_image")
    )
    return reported | desired


def model_names(version_ids: Iterable[int]) -> dict[int, str]:
    """`name version` of each model version id, for display."""
    return {
        pk: f"{version.name} {version.version}"
        for pk, version in ModelVersion.objects.in_bulk(list(version_ids)).items()
    }


REPORT_STATE: Final = "report_state"
"""The command every agent answers by publishing its ReportedState at once."""


def send_command(
    device_ids: Sequence[str], name: str, *, ttl: timedelta, actor: str
) -> dict[str, str]:
    """Queue the command `name` for each device; return each device's request id. The bridge
    publishes it (not retained); a device receiving it after `ttl` does not run it, and the
    bridge does not publish it after then either. NotFound for an unknown device."""
    try:
        validate_level(name, "command name")
    except ValueError as err:
        raise InvalidInput(str(err)) from err
    found = set(Device.objects.filter(pk__in=device_ids).values_list("pk", flat=True))
    missing = sorted(set(device_ids) - found)
    if missing:
        raise NotFound(f"unknown devices: {', '.join(missing)}")
    now = timezone.now()
    commands = [
        DeviceCommand(
            request_id=uuid.uuid4(),
            device_id=device_id,
            name=name,
            issued_by=actor,
            issued_at=now,
            expires_at=now + ttl,
        )
        for device_id in sorted(found)
    ]
    DeviceCommand.objects.bulk_create(commands)
    return {command.device_id: str(command.request_id) for command in commands}


def pending_commands(sites: Sequence[str], limit: int) -> list[DeviceCommand]:
    """Commands not yet published and not yet expired, of devices at `sites` (all if empty)."""
    query = DeviceCommand.objects.filter(
        _at_sites(sites), published_at=None, expires_at__gt=timezone.now()
    )
    return list(query.select_related("device").order_by("issued_at")[:limit])


def command_message(command: DeviceCommand) -> command_pb2.Command:
    """The Command message of a queued command."""
    message = command_pb2.Command(name=command.name, request_id=str(command.request_id))
    message.args.update(command.args)
    message.issue_time.FromDatetime(command.issued_at)
    message.expire_time.FromDatetime(command.expires_at)
    return message


def mark_command_published(request_id: uuid.UUID) -> None:
    """Record that a command reached the broker."""
    DeviceCommand.objects.filter(pk=request_id).update(published_at=timezone.now())
