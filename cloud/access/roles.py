"""Role checks: `require_role` on function views, `check_role` anywhere else (the API).

Every view already needs a login (`LoginRequiredMiddleware`), and every logged-in user is at
least a viewer, so only views that need more than reading carry `require_role`. Fleet-wide
pages (enrolments, models, rollouts) list and change devices of every site, so they also
need a user who sees every site (`fleet_wide=True`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TypeAlias

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from cloud.access.models import Access, Role

User: TypeAlias = AbstractBaseUser | AnonymousUser
View: TypeAlias = Callable[..., HttpResponseBase]


# Where `access_of` keeps a user's Access on the user object: the request's user is loaded
# once per request, so a page's role checks, scoping and menu share one query.
_CACHED = "_sightline_access"


def access_of(user: User) -> Access:
    """The user's role and grants; an unsaved viewer's `Access` (no grants) for a user with
    none, or logged out. Read once per user object."""
    if not user.is_authenticated:
        return Access(role=Role.VIEWER)
    access: Access | None = getattr(user, _CACHED, None)
    if access is None:
        access = Access.objects.filter(user_id=user.pk).first() or Access(role=Role.VIEWER)
        setattr(user, _CACHED, access)
    return access


def role_of(user: User) -> Role | None:
    """The user's role: admin for superusers, viewer without an `Access`; None when logged
    out or inactive."""
    if not user.is_authenticated or not user.is_active:
        return None
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    return Role(access_of(user).role)


def has_role(user: User, role: Role) -> bool:
    """Whether the user's role is `role` or above it."""
    actual = role_of(user)
    return actual is not None and actual.rank >= role.rank


def check_role(user: User, role: Role, *, fleet_wide: bool = False) -> None:
    """Raise `PermissionDenied` (403) unless the user has `role` or above, and, with
    `fleet_wide`, sees every site."""
    # Imported here: scope imports this module's User alias.
    from cloud.access.scope import sees_everything

    if not has_role(user, role):
        raise PermissionDenied(f"This needs the {role.label.lower()} role.")
    if fleet_wide and not sees_everything(user):
        raise PermissionDenied("This acts on the whole fleet: it needs access to every site.")


def require_role(role: Role, *, fleet_wide: bool = False) -> Callable[[View], View]:
    """A view decorator: 403 unless the logged-in user passes `check_role`."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponseBase:
            check_role(request.user, role, fleet_wide=fleet_wide)
            return view(request, *args, **kwargs)

        return guarded

    return decorate
