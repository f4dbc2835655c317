"""Managing users' roles and grants, as the ``users`` command does it (`Access` rows).

Admins keep Django's own flags in step with their role: an admin is a superuser (and staff, for
the admin site), and a user moved off the admin role loses both, so "superusers are admins"
stays true in both directions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction

from cloud.access.models import Access, Role
from cloud.errors import InvalidInput, NotFound
from cloud.fleet.models import CameraGroup, Site


def _user(username: str) -> Any:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"no user {username!r}; 'users list' lists them")
    return user


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError as err:
        raise InvalidInput(f"role {name!r}: one of {', '.join(Role.values)}") from err


def create_user(username: str, *, role: str, email: str = "") -> AbstractBaseUser:
    """A user with `role` and no grants, and no password until one is set
    (``python -m cloud changepassword USERNAME``)."""
    model = get_user_model()
    if model.objects.filter(username=username).exists():
        raise InvalidInput(f"user {username!r} exists")
    with transaction.atomic():
        user = model.objects.create_user(username, email=email)
        user.set_unusable_password()
        user.save()
        set_role(username, role)
    result: AbstractBaseUser = user
    return result


def set_role(username: str, role: str) -> Access:
    """Give the user `role` (see the module's docstring for admins)."""
    wanted = _role(role)
    user = _user(username)
    with transaction.atomic():
        access, _ = Access.objects.get_or_create(user=user)
        access.role = wanted
        access.save(update_fields=["role"])
        is_admin = wanted == Role.ADMIN
        if user.is_superuser != is_admin:
            user.is_superuser = user.is_staff = is_admin
            user.save(update_fields=["is_superuser", "is_staff"])
    return access


def grant(
    username: str,
    *,
    all_sites: bool | None = None,
    sites: Iterable[str] = (),
    groups: Iterable[str] = (),
    remove: bool = False,
) -> Access:
    """Add (or with `remove`, take away) sites and camera groups (``SITE/NAME``), and set or
    clear "all sites" when `all_sites` is not None."""
    user = _user(username)
    site_rows = [_site(site_id) for site_id in sites]
    group_rows = [_group(text) for text in groups]
    with transaction.atomic():
        access, _ = Access.objects.get_or_create(user=user)
        if all_sites is not None:
            access.all_sites = all_sites
            access.save(update_fields=["all_sites"])
        if remove:
            access.sites.remove(*site_rows)
            access.groups.remove(*group_rows)
        else:
            access.sites.add(*site_rows)
            access.groups.add(*group_rows)
    return access


def _site(site_id: str) -> Site:
    site = Site.objects.filter(pk=site_id).first()
    if site is None:
        raise NotFound(f"no site {site_id!r}; 'sites list' lists them")
    return site


def _group(text: str) -> CameraGroup:
    site_id, slash, name = text.partition("/")
    if not (slash and site_id and name):
        raise InvalidInput(f"group {text!r}: write it as SITE/NAME, as 'groups list' lists")
    group = CameraGroup.objects.filter(site_id=site_id, name=name).first()
    if group is None:
        raise NotFound(f"no camera group {text!r}; 'groups list' lists them")
    return group


def describe(user: Any) -> dict[str, Any]:
    """A user's role and grants as the command prints them."""
    access = Access.objects.filter(user=user).prefetch_related("sites", "groups").first()
    role = Role.ADMIN if user.is_superuser else Role(access.role) if access else Role.VIEWER
    return {
        "username": user.username,
        "active": user.is_active,
        "role": role.value,
        "all_sites": role == Role.ADMIN or bool(access and access.all_sites),
        "sites": [site.pk for site in access.sites.all()] if access else [],
        "groups": [str(group) for group in access.groups.all()] if access else [],
    }
