"""Revoking a device: every gRPC token and its broker account at once, and what it holds now.

Both take effect at once. The broker drops a deleted account's live session (dynamic
security's deleteClient) and refuses it from then on. The ingest server re-checks the token of
an open upload stream at least every `cloud.ingest.auth.REAUTHENTICATE_S` while it streams and
ends the stream UNAUTHENTICATED, and ends an idle stream of a revoked token within the same
time (`cloud.ingest.auth.RevocationWatch`); a new call is refused outright.

The tokens go first: they are one UPDATE in the database, which cannot be half done, while
the broker may be down. A revocation the broker could not finish raises, and running it again
finishes it (both steps are idempotent).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from cloud.fleet.broker import BrokerAccountError
from cloud.fleet.enrolment import DeviceAccounts
from cloud.fleet.registry import get_device
from cloud.ingest.credentials import revoke_tokens
from cloud.ingest.models import DeviceCredential

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Revoked:
    """What a revocation took away."""

    device_id: str
    tokens: int
    """Active gRPC tokens revoked now."""
    broker_account: bool
    """Whether a broker account existed and was deleted."""


def revoke_device(device_id: str, accounts: DeviceAccounts) -> Revoked:
    """Revoke every gRPC token of the device and delete its broker account.

    Raises `NotFound` for an unknown device and `BrokerAccountError` when the broker could not
    delete the account (the tokens are revoked by then; run it again).
    """
    get_device(device_id)
    tokens = revoke_tokens(device_id)
    try:
        existed = accounts.delete(device_id)
    except BrokerAccountError as err:
        raise BrokerAccountError(
            f"revoked {tokens} gRPC tokens of {device_id!r}, but the broker account is left: "
            f"{err}; revoke again once the broker answers"
        ) from err
    logger.warning(
        "revoked device %s: %d tokens, broker account %s",
        device_id,
        tokens,
        "deleted" if existed else "absent",
        extra={"device_id": device_id},
    )
    return Revoked(device_id=device_id, tokens=tokens, broker_account=existed)


@dataclass(frozen=True, kw_only=True)
class CredentialState:
    """What credentials a device holds now."""

    active_tokens: int
    revoked_tokens: int
    broker_account: bool | None
    """None when the broker could not be asked."""
    broker_error: str = ""


class AccountLookup(DeviceAccounts, Protocol):
    """Accounts that can also say whether one exists (`MosquittoAccounts`)."""

    def exists(self, username: str) -> bool: ...


def credential_state(device_id: str, accounts: AccountLookup | None) -> CredentialState:
    """Count the device's tokens and ask the broker for its account (None: do not ask)."""
    tokens = DeviceCredential.objects.filter(device_id=device_id)
    active = tokens.filter(revoked_at=None).count()
    revoked = tokens.count() - active
    if accounts is None:
        return CredentialState(active_tokens=active, revoked_tokens=revoked, broker_account=None)
    try:
        present: bool | None = accounts.exists(device_id)
        error = ""
    except BrokerAccountError as err:
        present, error = None, str(err)
    return CredentialState(
        active_tokens=active, revoked_tokens=revoked, broker_account=present, broker_error=error
    )
