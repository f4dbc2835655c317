"""The fleet pages: the devices list with its filters, a device's page, enrolment, revocation.

Server-rendered like the search pages and behind the same login (`LoginRequiredMiddleware`).
Every user sees the devices of their scope (`cloud.access.scope`); operators revoke those,
and operators who see every site enrol new ones. The counters come from each device's latest
heartbeat (`DeviceHealth`): rows waiting in its outbox, and per lane the rows it dropped,
dead-lettered and delivered, so that every loss a device counted shows here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cloud.access import scope
from cloud.access.models import Role
from cloud.access.roles import require_role
from cloud.errors import InvalidInput, NotFound
from cloud.fleet import enrolment, registry, revocation
from cloud.fleet.broker import BrokerAccountError, accounts_from_settings
from cloud.fleet.forms import EnrolmentForm, FleetFilterForm
from cloud.fleet.models import Device, DeviceHealth
from cloud.fleet.registry import DeviceFilter, Health

PAGE_SIZE = 50


@dataclass(frozen=True)
class DeviceRow:
    """One device as the pages show it."""

    device: Device
    health: DeviceHealth | None
    """The latest heartbeat; None before the first."""
    state: Health

    @classmethod
    def of(cls, device: Device, now: datetime) -> DeviceRow:
        health = getattr(device, "health", None)
        return cls(device, health, registry.health_of(device, health, now=now))

    @property
    def last_seen(self) -> datetime | None:
        """The later of the last birth message and the last heartbeat (device clock)."""
        times = [t for t in (self.device.last_seen, self.health and self.health.sampled_at) if t]
        return max(times, default=None)

    @property
    def lost(self) -> bool:
        """Whether the device counted a loss (drops, dead letters, interrupted tracks) or has
        a lane stopped by an error."""
        if self.health is None:
            return False
        return bool(
            self.health.outbox_dropped_total
            or self.health.tracks_interrupted_total
            or any(lane["dead_letters_total"] or lane["error"] for lane in self.health.lanes)
        )


@require_safe
def devices(request: HttpRequest) -> HttpResponse:
    """The devices the filters select, by site and id, a page at a time."""
    form = FleetFilterForm(request.GET)
    now = timezone.now()
    where = form.device_filter() if form.is_valid() else DeviceFilter()
    found = scope.visible_devices(request.user, registry.find_devices(where, now=now))
    page = Paginator(found, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [DeviceRow.of(device, now) for device in page]
    filtered = any(form.cleaned_data.values()) if form.is_valid() else False
    return render(
        request,
        "fleet/devices.html",
        {"form": form, "page": page, "rows": rows, "filtered": filtered},
    )


@require_safe
def device(request: HttpRequest, device_id: str) -> HttpResponse:
    """A device's registry data, cameras, health and credentials, and (operators) revoke."""
    scope.require_visible_device(request.user, device_id)
    try:
        found = registry.get_device(device_id)
    except NotFound as err:
        raise Http404(str(err)) from err
    try:
        accounts: revocation.AccountLookup | None = accounts_from_settings()
    except BrokerAccountError:
        accounts = None
    row = DeviceRow.of(found, timezone.now())
    cameras = scope.visible_cameras(request.user).filter(device=found).prefetch_related("groups")
    # Each camera beside its figures of the latest heartbeat (None before its first).
    latest = DeviceHealth.objects.filter(device=found).values_list("cameras", flat=True).first()
    camera_rows = [(camera, (latest or {}).get(camera.edge_id)) for camera in cameras]
    return render(
        request,
        "fleet/device.html",
        {
            "row": row,
            "device": row.device,
            "tags": found.tags.all(),
            "cameras": camera_rows,
            "credentials": revocation.credential_state(found.id, accounts),
            "broker_configured": accounts is not None,
        },
    )


@require_POST
@require_role(Role.OPERATOR)
def revoke(request: HttpRequest, device_id: str) -> HttpResponse:
    """Revoke every credential of the device, then show its page again."""
    scope.require_visible_device(request.user, device_id)
    try:
        revoked = revocation.revoke_device(device_id, accounts_from_settings())
    except NotFound as err:
        raise Http404(str(err)) from err
    except BrokerAccountError as err:
        messages.error(request, str(err))
    else:
        messages.success(
            request,
            f"Revoked {device_id}: {revoked.tokens} gRPC token(s), broker account "
            f"{'deleted' if revoked.broker_account else 'was absent'}.",
        )
    return redirect("fleet:device", device_id=device_id)


@require_http_methods(["GET", "HEAD", "POST"])
@require_role(Role.OPERATOR, fleet_wide=True)
def enrol(request: HttpRequest) -> HttpResponse:
    """Make an enrolment and show its one-time token (on this response only)."""
    form = EnrolmentForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = enrolment.create_enrolment(
                **form.enrolment_fields(), created_by=request.user.pk
            )
        except (InvalidInput, NotFound) as err:
            form.add_error(None, str(err))
        else:
            # A fresh form: sending this one again would make a second token for the device.
            form = EnrolmentForm()
    return render(
        request,
        "fleet/enrol.html",
        {
            "form": form,
            "issued": issued,
            "pending": enrolment.pending_enrolments(),
            "endpoint": request.build_absolute_uri("/api/v1/enrol"),
        },
    )
