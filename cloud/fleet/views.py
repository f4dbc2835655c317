"""The devices page: each device's status, when it was last seen, and what it lost.

Server-rendered like the search pages and behind the same login (`LoginRequiredMiddleware`).
The counters come from each device's latest heartbeat (`DeviceHealth`): rows waiting in its
outbox, and per lane the rows it dropped, dead-lettered and delivered, so that every loss a
device counted shows here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from cloud.fleet.models import Device, DeviceHealth


@dataclass(frozen=True)
class DeviceRow:
    """One device as the page shows it."""

    device: Device
    health: DeviceHealth | None
    """The latest heartbeat; None before the first."""

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
    """Every device, by site and id, with its status, last sighting and outbox counters."""
    rows = [
        DeviceRow(device, getattr(device, "health", None))
        for device in Device.objects.select_related("health").order_by("site", "id")
    ]
    return render(request, "fleet/devices.html", {"rows": rows})
