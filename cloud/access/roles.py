"""Role checks: `require_role` on function views, `check_role` anywhere else (the API).

Every view already needs a login (`LoginRequiredMiddleware`), and every logged-in user is at
least a viewer, so views that only show what the user's scope holds need no decorator.
Fleet-wide pages (enrolments, models, rollouts) list and change devices of every site, so
they need a user who sees every site (`fleet_wide=True`), to read or to act.
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


def scoped_access(user: User) -> Access | None:
    """The grants that limit what the user sees; None when they see everything (admins,
    superusers, users granted all sites)."""
    if not user.is_authenticated or not user.is_active:
        return Access(role=Role.VIEWER)
    if getattr(user, "is_superuser", False):
        return None
    access = access_of(user)
    if access.all_sites or access.role == Role.ADMIN:
        return None
    return access


def sees_everything(user: User) -> bool:
    """Whether the user sees every camera and device (`cloud.access.scope`)."""
    return scoped_access(user) is None


def role_of(user: User) -> Role | None:
    """The user's role: admin for superusers, viewer without an `Access`; None when logged
    out or inactive."""
    if not user.is_authenticated or not user.is_active:
        return None
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    return Role(access_of(user).role)


def user_pk(user: User) -> int:
    """The primary key of a logged-in user: views behind the login middleware and API calls
    past authentication have one (PermissionDenied otherwise)."""
    if isinstance(user, AnonymousUser) or not user.is_authenticated:
        raise PermissionDenied("Log in first.")
    return int(user.pk)


def has_role(user: User, role: Role) -> bool:
    """Whether the user's role is `role` or above it."""
    actual = role_of(user)
    return actual is not None and actual.rank >= role.rank


def check_role(user: User, role: Role, *, fleet_wide: bool = False) -> None:
    """Raise `PermissionDenied` (403) unless the user has `role` or above, and, with
    `fleet_wide`, sees every site."""
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
