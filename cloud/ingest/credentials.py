"""Issuing, checking and revoking device tokens (`DeviceCredential`)."""

from __future__ import annotations

import hashlib
import logging
import secrets

from django.db import transaction
from django.utils import timezone

from cloud.errors import NotFound
from cloud.fleet.services import ensure_device_exists
from cloud.ingest.models import DeviceCredential

logger = logging.getLogger(__name__)

# 32 random bytes, URL-safe base64: 43 characters that fit an HTTP header and a YAML file as-is.
_TOKEN_BYTES = 32
_HINT_LENGTH = 6


def token_digest(token: str) -> str:
    """The lowercase hex SHA-256 kept in place of a token (device and enrolment tokens)."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(device_id: str, *, revoke_others: bool = False) -> str:
    """Make a new token for a provisioned device and return it; only its digest is kept.

    The caller must hand the token to the device now: it cannot be shown again. With
    `revoke_others`, every earlier token of the device stops working in the same transaction.
    Raises `NotFound` when the device is not provisioned.
    """
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    with transaction.atomic():
        ensure_device_exists(device_id)
        if revoke_others:
            revoke_tokens(device_id)
        DeviceCredential.objects.create(
            device_id=device_id, token_sha256=token_digest(token), hint=token[:_HINT_LENGTH]
        )
    logger.info("issued a token for device %s", device_id, extra={"device_id": device_id})
    return token


def revoke_tokens(device_id: str) -> int:
    """Revoke every active token of a device; return how many were revoked."""
    revoked = DeviceCredential.objects.filter(device_id=device_id, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    logger.info(
        "revoked %d tokens of device %s", revoked, device_id, extra={"device_id": device_id}
    )
    return revoked


def authenticate_token(token: str) -> str:
    """Return the id of the device holding this active token; raise `NotFound` otherwise."""
    device_id = (
        DeviceCredential.objects.filter(token_sha256=token_digest(token), revoked_at=None)
        .values_list("device_id", flat=True)
        .first()
    )
    if device_id is None:
        raise NotFound("no active device credential matches the token")
    return device_id
