"""Users for tests, with a role and what they may see (`cloud.access`).

Users made after the access migration see nothing until granted: tests that only need "a
logged-in user who sees everything" use `make_user(name)`.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User

from cloud.access.models import Access, Role
from cloud.fleet.models import CameraGroup, Site


def make_user(
    username: str,
    role: Role = Role.VIEWER,
    *,
    all_sites: bool = True,
    sites: Iterable[Site] = (),
    groups: Iterable[CameraGroup] = (),
    password: str | None = None,
) -> User:
    """A user with `role`, seeing every camera unless `all_sites` is False (then only those
    of `sites` and `groups`)."""
    user = User.objects.create_user(username, password=password)
    access = Access.objects.create(user=user, role=role, all_sites=all_sites)
    access.sites.set(sites)
    access.groups.set(groups)
    return user
