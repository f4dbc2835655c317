"""One-time enrolment tokens: how a new device gets into the fleet with its credentials.

An operator makes an enrolment (site, hardware profile, optionally the device id, name and
tags) in the web app or with ``python -m cloud devices enrol``, and hands its token to the
device (or its installer). The device exchanges the token once, at ``POST /api/v1/enrol``
(`cloud.fleet.api`), for its credentials: a gRPC ingest token (`cloud.ingest.credentials`) and
a broker account with a fresh password (`cloud.fleet.broker`, dynamic security: no broker
restart). The exchange is all or nothing: the device, its token and the consumed enrolment are
one transaction, and the broker account is made inside it, last, so a broker that is down
fails the exchange without consuming the token or leaving a half device.

Tokens are 256 random bits and only their SHA-256 is stored. A token is found by its digest,
so how long a lookup takes depends on the digest of the guess, never on how much of the real
token a guess got right: the comparison leaks nothing an attacker could climb, and 256 bits
cannot be guessed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from django.db import transaction
from django.utils import timezone

from cloud.errors import CloudError, InvalidInput
from cloud.fleet import registry
from cloud.fleet.broker import BrokerAccountError, new_password
from cloud.fleet.models import Device, Enrolment
from cloud.fleet.services import provision_device
from cloud.ingest.credentials import issue_token, token_digest

logger = logging.getLogger(__name__)

DEFAULT_TTL: Final = timedelta(hours=24)
MAX_TTL: Final = timedelta(days=30)
_TOKEN_BYTES: Final = 32
_HINT_LENGTH: Final = 6


class DeviceAccounts(Protocol):
    """Where devices' broker accounts are made (`cloud.fleet.broker.MosquittoAccounts`)."""

    def put_device(self, device_id: str, site: str, password: str) -> None: ...

    def delete(self, username: str) -> bool: ...


class EnrolmentRefused(CloudError):
    """The token cannot be exchanged; `status` is the HTTP status that says why."""

    status = 400


class UnknownToken(EnrolmentRefused):
    """No enrolment has this token."""

    status = 401


class TokenSpent(EnrolmentRefused):
    """The token was used already, or it expired."""

    status = 410


class DeviceExists(EnrolmentRefused):
    """The device id the enrolment names is taken."""

    status = 409


class BrokerUnavailable(EnrolmentRefused):
    """The broker could not make the account; the token is still good, try again."""

    status = 503


@dataclass(frozen=True, kw_only=True)
class IssuedEnrolment:
    """A new enrolment and its token: shown once, never stored."""

    token: str
    enrolment: Enrolment


@dataclass(frozen=True, kw_only=True)
class DeviceCredentials:
    """What a device gets for its enrolment token: shown once, never stored in clear."""

    device_id: str
    site: str
    hardware_profile: str
    ingest_token: str
    mqtt_username: str
    mqtt_password: str


def create_enrolment(
    *,
    site: str,
    hardware_profile: str,
    device_id: str = "",
    name: str = "",
    tags: Sequence[str] = (),
    ttl: timedelta = DEFAULT_TTL,
    created_by: int | None = None,
) -> IssuedEnrolment:
    """Make an enrolment at an existing site and return it with its one-time token.

    `created_by` is the operator's user id, kept for the audit trail. Raises `NotFound` for an
    unknown site, `InvalidInput` for a bad field, a `ttl` outside (0, 30 days], or a device id
    already provisioned.
    """
    if not timedelta(0) < ttl <= MAX_TTL:
        raise InvalidInput(f"expiry: must be more than 0 and at most {MAX_TTL.days} days")
    site_row = registry.get_site(site)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    enrolment = Enrolment(
        token_sha256=token_digest(token),
        hint=token[:_HINT_LENGTH],
        site=site_row,
        hardware_profile=hardware_profile,
        device_id=device_id,
        name=name,
        created_by_id=created_by,
        expires_at=timezone.now() + ttl,
    )
    registry.clean(enrolment, "enrolment", exclude=["token_sha256", "hint"])
    if device_id and Device.objects.filter(pk=device_id).exists():
        raise InvalidInput(
            f"device {device_id!r} is already provisioned: revoke it or pick another id"
        )
    with transaction.atomic():
        enrolment.save()
        enrolment.tags.set(registry.make_tags(tags))
    logger.info("enrolment %s… made for site %s", enrolment.hint, site)
    return IssuedEnrolment(token=token, enrolment=enrolment)


def exchange(token: str, accounts: DeviceAccounts, *, device_id: str = "") -> DeviceCredentials:
    """Spend the token on a new device's credentials.

    `device_id` is the id the device asks for, used when the enrolment names none (else the
    cloud picks one: the site and 8 random hex digits). Raises `UnknownToken`, `TokenSpent`
    (used or expired), `DeviceExists`, `InvalidInput` (a bad `device_id`) or
    `BrokerUnavailable`; on any of them nothing was made and an unspent token stays good.
    """
    made_account = ""
    committed = False
    try:
        with transaction.atomic():
            # Locked, so that two racing exchanges of one token cannot both spend it.
            enrolment = (
                Enrolment.objects.select_for_update()
                .filter(token_sha256=token_digest(token))
                .first()
            )
            if enrolment is None:
                raise UnknownToken("unknown enrolment token")
            now = timezone.now()
            if enrolment.used_at is not None:
                raise TokenSpent(
                    f"the enrolment token was used at {enrolment.used_at:%Y-%m-%d %H:%M:%S}Z"
                )
            if enrolment.expires_at <= now:
                raise TokenSpent(
                    f"the enrolment token expired at {enrolment.expires_at:%Y-%m-%d %H:%M:%S}Z"
                )
            chosen = _device_id(enrolment, device_id)
            tags = list(enrolment.tags.values_list("id", flat=True))
            if not provision_device(
                chosen,
                hardware_profile=enrolment.hardware_profile,
                name=enrolment.name,
                site=enrolment.site_id,
                tags=tags,
            ):
                raise DeviceExists(f"device {chosen!r} is already provisioned")
            ingest_token = issue_token(chosen)
            password = new_password()
            try:
                accounts.put_device(chosen, enrolment.site_id, password)
            except BrokerAccountError as err:
                raise BrokerUnavailable(f"the broker account could not be made: {err}") from err
            made_account = chosen
            enrolment.used_at = now
            enrolment.enrolled_id = chosen
            enrolment.save(update_fields=["used_at", "enrolled"])
        committed = True
    finally:
        if made_account and not committed:
            # The database refused the commit after the broker made the account: take it back,
            # so that no credential outlives the device it was made for.
            accounts.delete(made_account)
    logger.info(
        "device %s enrolled at site %s with enrolment %s…",
        chosen,
        enrolment.site_id,
        enrolment.hint,
        extra={"device_id": chosen},
    )
    return DeviceCredentials(
        device_id=chosen,
        site=enrolment.site_id,
        hardware_profile=enrolment.hardware_profile,
        ingest_token=ingest_token,
        mqtt_username=chosen,
        mqtt_password=password,
    )


def _device_id(enrolment: Enrolment, requested: str) -> str:
    if enrolment.device_id:
        if requested and requested != enrolment.device_id:
            raise InvalidInput(
                f"device_id: this enrolment is for {enrolment.device_id!r}; send that or none"
            )
        return enrolment.device_id
    if requested:
        registry.clean(
            Device(id=requested, hardware_profile=enrolment.hardware_profile),
            "device_id",
            exclude=["site"],
        )
        return requested
    return f"{enrolment.site_id[:55]}-{secrets.token_hex(4)}"


def pending_enrolments(*, now: datetime | None = None) -> list[Enrolment]:
    """Enrolments not yet used nor expired, newest first."""
    now = now or timezone.now()
    return list(
        Enrolment.objects.filter(used_at=None, expires_at__gt=now)
        .select_related("site")
        .prefetch_related("tags")
    )
