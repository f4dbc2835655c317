"""How API calls authenticate: an API token, else the browser's session."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer, django_auth

from cloud.access.tokens import user_of_token


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <API token>``: the call acts as the token's user."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = user_of_token(token)
        if user is not None:
            # Role checks, scoping and the per-user rate limit all read request.user.
            request.user = user
        return user


AUTH = [TokenAuth(), django_auth]
"""Tried in order; the session (django_auth) checks CSRF on unsafe methods."""
