"""API tokens: made per user, shown once, stored as a SHA-256, revocable, with their last use.

A token is ``slt_`` and 256 random bits (url-safe base64). As with enrolment and device tokens,
a token is found by its digest, so a guess learns nothing from how long the lookup takes, and
256 bits cannot be guessed. The prefix lets secret scanners and people recognise one.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Final

from django.contrib.auth.models import User
from django.utils import timezone

from cloud.access.models import ApiToken
from cloud.errors import InvalidInput, NotFound
from cloud.ingest.credentials import token_digest

PREFIX: Final = "slt_"
_TOKEN_BYTES: Final = 32
_HINT_LENGTH: Final = 8
MAX_NAME: Final = 100
"""The longest token name (`ApiToken.name`)."""
LAST_USE_RESOLUTION: Final = timedelta(minutes=1)
"""How stale `ApiToken.last_used_at` may be: a script's burst of calls writes it once."""


def create_token(user_id: int, name: str) -> tuple[ApiToken, str]:
    """Make a token for a user; returns its row and the token, which is not kept anywhere."""
    name = name.strip()
    if not 0 < len(name) <= MAX_NAME:
        raise InvalidInput(f"a token needs a name of 1 to {MAX_NAME} characters (what uses it)")
    token = PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)
    row = ApiToken.objects.create(
        user_id=user_id, name=name, token_sha256=token_digest(token), hint=token[:_HINT_LENGTH]
    )
    return row, token


def user_of_token(token: str) -> User | None:
    """The active user a live token acts as, recording its use; None for any other token."""
    if not token.startswith(PREFIX):
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_sha256=token_digest(token), revoked_at=None, user__is_active=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_RESOLUTION:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


def revoke_token(token_id: int, *, user_id: int | None = None) -> ApiToken:
    """Revoke a token (one of that user's, when given); revoking twice keeps the first time."""
    tokens = ApiToken.objects.all()
    if user_id is not None:
        tokens = tokens.filter(user_id=user_id)
    row = tokens.filter(pk=token_id).first()
    if row is None:
        raise NotFound(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = timezone.now()
        row.save(update_fields=["revoked_at"])
    return row


def token_summary(row: ApiToken) -> dict[str, object]:
    """A token as the page, the API and the command show it (never the token itself)."""
    return {
        "id": row.pk,
        "name": row.name,
        "hint": row.hint,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
    }
