"""The caller's own API tokens: list, make (the token is in this answer only), revoke."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from cloud.access import tokens
from cloud.access.models import ApiToken
from cloud.access.roles import user_pk

router = Router(tags=["tokens"])


class TokenOut(Schema):
    """An API token as listed: never the token itself."""

    id: int
    name: str
    hint: str = Field(description="The token's first characters.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewToken(Schema):
    """What the new token is for."""

    name: str = Field(min_length=1, max_length=tokens.MAX_NAME, description="What will use it.")


class IssuedToken(TokenOut):
    """A token just made: `token` is shown this once."""

    token: str


@router.get("", response=list[TokenOut])
def list_tokens(request: HttpRequest) -> list[dict[str, object]]:
    """The caller's tokens, newest first, revoked ones included."""
    rows = ApiToken.objects.filter(user_id=user_pk(request.user))
    return [tokens.token_summary(row) for row in rows]


@router.post("", response={201: IssuedToken})
def create_token(request: HttpRequest, body: NewToken) -> Status[dict[str, object]]:
    """Make a token for the caller."""
    row, token = tokens.create_token(user_pk(request.user), body.name)
    return Status(201, {**tokens.token_summary(row), "token": token})


@router.delete("/{token_id}", response={204: None})
def revoke_token(request: HttpRequest, token_id: int) -> Status[None]:
    """Revoke one of the caller's tokens."""
    tokens.revoke_token(token_id, user_id=user_pk(request.user))
    return Status(204, None)
