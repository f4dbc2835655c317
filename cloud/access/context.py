"""The template context every page gets: what the user may do, for the links it shows."""

from __future__ import annotations

from django.http import HttpRequest

from cloud.access.models import Role
from cloud.access.roles import role_of
from cloud.access.scope import sees_everything


def access(request: HttpRequest) -> dict[str, object]:
    """``role`` (None when logged out), ``can_label`` (labelers and above: marking crops,
    changing labels, dataset exports), ``can_operate`` (operators and admins: device actions),
    ``sees_every_site`` (the fleet-wide pages: models, rollouts) and ``can_manage_fleet``
    (operators who see every site: enrolments, uploads, rollouts), as
    `cloud.access.roles.check_role` decides them."""
    role = role_of(request.user)
    can_label = role is not None and role.rank >= Role.LABELER.rank
    can_operate = role is not None and role.rank >= Role.OPERATOR.rank
    every_site = role is not None and sees_everything(request.user)
    return {
        "role": role,
        "can_label": can_label,
        "can_operate": can_operate,
        "sees_every_site": every_site,
        "can_manage_fleet": can_operate and every_site,
    }
